// eigen_maps.h — views of raw row-major float buffers as Eigen matrices (no copies), for the CPU
// GEMMs of matmul and conv2d.
#pragma once
#include <Eigen/Core>

namespace sg::eigen {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;
using SMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;         // a block of columns of a wider matrix
using CSMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;

}  // namespace sg::eigen
