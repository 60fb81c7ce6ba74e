// The rnc CPU kernel library (rnc::cpu): generated code includes this.
#pragma once

#include "batchnorm.h"
#include "common.h"
#include "conv.h"
#include "elementwise.h"
#include "epilogue.h"
#include "gemm.h"
#include "linear.h"
#include "loss.h"
#include "optimizer.h"
#include "pool.h"
#include "pool_bn_grad.h"
