// The rnc CUDA kernel library (rnc::cuda): generated CUDA code includes this.
#pragma once

#include "batchnorm.cuh"
#include "collectives.cuh"
#include "common.cuh"
#include "conv.cuh"
#include "debug.cuh"
#include "elementwise.cuh"
#include "epilogue.cuh"
#include "igemm.cuh"
#include "linear.cuh"
#include "loss.cuh"
#include "optimizer.cuh"
#include "pool.cuh"
#include "reduce.cuh"
