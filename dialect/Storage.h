// Where the value of a training step lives, as far as the IR decides it:
// shared by the memory planner (passes/PlanMemory.cpp) and every target's
// code generator, so they agree on which values need workspace.
#ifndef RNC_DIALECT_STORAGE_H
#define RNC_DIALECT_STORAGE_H

#include "dialect/RnOps.h"

namespace mlir::rn {

/// True for ops whose result is a view of their operand (same buffer).
bool isView(Operation *op);

/// The parameter whose "<name>.grad" state slot holds `value`, if any: the
/// gradient operand of the first rn.sgd_update that uses it, when computed
/// by an op that is neither a view nor an rn.param. Such a value is written
/// straight into the state block and needs no workspace.
ParamOp stateGradientOf(Value value);

/// True if `value` needs a workspace buffer: an op result that is not a
/// param, not a view and not a state gradient.
bool needsWorkspace(Value value);

/// The value whose buffer `value` uses: itself, or the source of a chain of
/// views.
Value bufferRoot(Value value);

} // namespace mlir::rn

#endif // RNC_DIALECT_STORAGE_H
