# cuDNN (convolutions on the GPU). Ships with the CUDA toolkit here; elsewhere it may live in a
# pip wheel (nvidia-cudnn-cu13): pass -DSGSF_CUDNN_ROOT=<dir holding include/cudnn.h and lib/>.
# Headers and library always come from one copy: the library is searched only under the folder
# that holds the header found, and must carry the header's major version (libcudnn.so.<major>).
set(SGSF_CUDNN_ROOT "" CACHE PATH "Folder holding cuDNN's include/ and lib/ (searched alone when set)")
if(SGSF_CUDNN_ROOT)
  find_path(CUDNN_INCLUDE_DIR cudnn.h PATHS ${SGSF_CUDNN_ROOT} PATH_SUFFIXES include NO_DEFAULT_PATH)
else()
  find_path(CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
    PATH_SUFFIXES include)
endif()
if(NOT CUDNN_INCLUDE_DIR)
  message(FATAL_ERROR "cuDNN not found (needed by the CUDA backend): install it with the CUDA toolkit, pass -DSGSF_CUDNN_ROOT=<dir>, or build CPU-only with -DSGSF_WITH_CUDA=OFF")
endif()
set(_sgsf_cudnn_major "")
foreach(_h cudnn_version.h cudnn.h)
  if(NOT _sgsf_cudnn_major AND EXISTS "${CUDNN_INCLUDE_DIR}/${_h}")
    file(STRINGS "${CUDNN_INCLUDE_DIR}/${_h}" _line REGEX "^#define CUDNN_MAJOR [0-9]+")
    string(REGEX REPLACE "^#define CUDNN_MAJOR ([0-9]+).*" "\\1" _sgsf_cudnn_major "${_line}")
  endif()
endforeach()
get_filename_component(_sgsf_cudnn_root "${CUDNN_INCLUDE_DIR}" DIRECTORY)
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.${_sgsf_cudnn_major}
  PATHS ${_sgsf_cudnn_root} PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu NO_DEFAULT_PATH)
if(NOT CUDNN_LIBRARY)
  message(FATAL_ERROR "cuDNN: found ${CUDNN_INCLUDE_DIR}/cudnn.h (version ${_sgsf_cudnn_major}) but no libcudnn beside it under ${_sgsf_cudnn_root}; pass -DSGSF_CUDNN_ROOT=<dir holding both include/ and lib/>")
endif()
get_filename_component(_sgsf_cudnn_real "${CUDNN_LIBRARY}" REALPATH)
if(_sgsf_cudnn_major AND NOT _sgsf_cudnn_real MATCHES "libcudnn\\.so\\.${_sgsf_cudnn_major}")
  message(FATAL_ERROR "cuDNN: the header ${CUDNN_INCLUDE_DIR}/cudnn.h is version ${_sgsf_cudnn_major} but the library is ${_sgsf_cudnn_real}")
endif()
message(STATUS "SGSF: cuDNN ${_sgsf_cudnn_major}: ${CUDNN_INCLUDE_DIR}, ${CUDNN_LIBRARY}")
add_library(sgsf_cudnn INTERFACE)
target_include_directories(sgsf_cudnn SYSTEM INTERFACE ${CUDNN_INCLUDE_DIR})
target_link_libraries(sgsf_cudnn INTERFACE ${CUDNN_LIBRARY})
add_library(sgsf::cudnn ALIAS sgsf_cudnn)
