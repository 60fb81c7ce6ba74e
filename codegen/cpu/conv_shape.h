// The kernel shape structs of codegen/shapes.h, in rnc::cpu.
#pragma once

#include "codegen/shapes.h"

namespace rnc::cpu {
using rnc::BatchNormShape;
using rnc::Conv2DShape;
using rnc::LinearShape;
using rnc::Pool2DShape;
} // namespace rnc::cpu
