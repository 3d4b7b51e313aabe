# How the project finds its third-party code: Debian's packages (or hint paths), never copies.
#   Eigen   -> libeigen3-dev   (CPU GEMM, FFT)        hint: -DEIGEN3_INCLUDE_DIR=...
#   doctest -> doctest-dev     (unit tests)           hint: -DDOCTEST_INCLUDE_DIR=...
#   stb     -> libstb-dev      (image decode/encode)  hint: -DSTB_INCLUDE_DIR=...
#   oneDNN  -> libdnnl-dev     (CPU convolution; optional: without it conv2d uses im2col + Eigen)
# A folder passed as -DSGSF_THIRD_PARTY_HINTS=<dir> is searched first (it may hold eigen3/,
# doctest/ and stb/ copied from those packages, for machines without a package registry).
find_package(Threads REQUIRED)
find_package(OpenMP)

set(SGSF_THIRD_PARTY_HINTS "" CACHE PATH "Extra folder searched for eigen3/, doctest/ and stb/ headers")
set(_sgsf_hint_dirs ${SGSF_THIRD_PARTY_HINTS} /usr/include /usr/local/include)

find_path(EIGEN3_INCLUDE_DIR NAMES Eigen/Core PATHS ${_sgsf_hint_dirs} PATH_SUFFIXES eigen3 NO_DEFAULT_PATH)
if(NOT EIGEN3_INCLUDE_DIR)
  message(FATAL_ERROR "Eigen not found: install Debian's package libeigen3-dev (apt-get install libeigen3-dev) or pass -DEIGEN3_INCLUDE_DIR=<dir holding Eigen/Core>")
endif()
find_path(DOCTEST_INCLUDE_DIR NAMES doctest/doctest.h PATHS ${_sgsf_hint_dirs} NO_DEFAULT_PATH)
if(NOT DOCTEST_INCLUDE_DIR)
  message(FATAL_ERROR "doctest not found: install Debian's package doctest-dev (apt-get install doctest-dev) or pass -DDOCTEST_INCLUDE_DIR=<dir holding doctest/doctest.h>")
endif()
find_path(STB_INCLUDE_DIR NAMES stb_image.h PATHS ${_sgsf_hint_dirs} PATH_SUFFIXES stb NO_DEFAULT_PATH)
if(NOT STB_INCLUDE_DIR)
  message(FATAL_ERROR "stb not found: install Debian's package libstb-dev (apt-get install libstb-dev) or pass -DSTB_INCLUDE_DIR=<dir holding stb_image.h>")
endif()

add_library(sgsf_eigen INTERFACE)
target_include_directories(sgsf_eigen SYSTEM INTERFACE ${EIGEN3_INCLUDE_DIR})
add_library(sgsf::eigen ALIAS sgsf_eigen)
add_library(sgsf_doctest INTERFACE)
target_include_directories(sgsf_doctest SYSTEM INTERFACE ${DOCTEST_INCLUDE_DIR})
add_library(sgsf::doctest ALIAS sgsf_doctest)
add_library(sgsf_stb INTERFACE)
target_include_directories(sgsf_stb SYSTEM INTERFACE ${STB_INCLUDE_DIR})
add_library(sgsf::stb ALIAS sgsf_stb)

# oneDNN: optional. Found -> conv2d's CPU side uses it (engine/dnnl_conv.*); -DSGSF_WITH_DNNL=OFF
# leaves it out, and the build is then complete without it.
option(SGSF_WITH_DNNL "Use oneDNN (libdnnl-dev) for CPU convolutions when it is installed" ON)
add_library(sgsf_dnnl INTERFACE)
if(SGSF_WITH_DNNL)
  find_path(DNNL_INCLUDE_DIR NAMES dnnl.hpp PATHS ${_sgsf_hint_dirs})
  find_library(DNNL_LIBRARY NAMES dnnl)
  if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
    message(STATUS "SGSF: oneDNN found (${DNNL_LIBRARY}): CPU convolutions use it")
    target_include_directories(sgsf_dnnl SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
    target_link_libraries(sgsf_dnnl INTERFACE ${DNNL_LIBRARY})
    target_compile_definitions(sgsf_dnnl INTERFACE SGSF_WITH_DNNL=1)
  else()
    message(STATUS "SGSF: oneDNN not found (apt-get install libdnnl-dev): CPU convolutions use im2col + Eigen")
  endif()
endif()
add_library(sgsf::dnnl ALIAS sgsf_dnnl)
