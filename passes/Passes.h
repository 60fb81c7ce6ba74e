// Declares the rnc passes and their registration (generated from Passes.td).
#ifndef RNC_PASSES_PASSES_H
#define RNC_PASSES_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::rn {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::rn

#endif // RNC_PASSES_PASSES_H
