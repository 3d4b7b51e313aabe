# cuDNN (convolutions on the GPU). Ships with the CUDA toolkit here; elsewhere it may live in a
# pip wheel (nvidia-cudnn-cu13): pass -DSGSF_CUDNN_ROOT=<dir holding include/cudnn.h and lib/>.
set(SGSF_CUDNN_ROOT "" CACHE PATH "Folder holding cuDNN's include/ and lib/ (optional hint)")
find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${SGSF_CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
  HINTS ${SGSF_CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  message(FATAL_ERROR "cuDNN not found (needed by the CUDA backend): install it with the CUDA toolkit, pass -DSGSF_CUDNN_ROOT=<dir>, or build CPU-only with -DSGSF_WITH_CUDA=OFF")
endif()
message(STATUS "SGSF: cuDNN ${CUDNN_LIBRARY}")
add_library(sgsf_cudnn INTERFACE)
target_include_directories(sgsf_cudnn SYSTEM INTERFACE ${CUDNN_INCLUDE_DIR})
target_link_libraries(sgsf_cudnn INTERFACE ${CUDNN_LIBRARY})
add_library(sgsf::cudnn ALIAS sgsf_cudnn)
