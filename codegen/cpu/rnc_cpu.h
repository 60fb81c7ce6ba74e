// The rnc CPU kernel library: generated code includes this one header (namespace rnc::cpu).
#pragma once

#include "common.h"
#include "epilogue.h"
#include "gemm.h"
#include "conv.h"
#include "batchnorm.h"
#include "pool.h"
#include "elementwise.h"
#include "linear.h"
#include "loss.h"
#include "optimizer.h"
#include "init.h"
