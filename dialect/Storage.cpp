// Storage rules of training-step values (Storage.h).
#include "dialect/Storage.h"

namespace mlir::rn {

bool isView(Operation *op) { return isa<FlattenOp, UnflattenOp>(op); }

ParamOp stateGradientOf(Value value) {
  Operation *def = value.getDefiningOp();
  if (!def || isView(def) || isa<ParamOp>(def))
    return nullptr;
  // The first update in block order claims the value; another update of the
  // same value copies it into its own slot.
  SgdUpdateOp first;
  for (Operation *user : value.getUsers())
    if (auto u = dyn_cast<SgdUpdateOp>(user); u && u.getGrad() == value)
      if (!first || u->isBeforeInBlock(first))
        first = u;
  return first ? first.getParam().getDefiningOp<ParamOp>() : nullptr;
}

bool needsWorkspace(Value value) {
  Operation *def = value.getDefiningOp();
  return def && !isView(def) && !isa<ParamOp>(def) && !stateGradientOf(value);
}

Value bufferRoot(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isView(def))
      break;
    value = def->getOperand(0);
  }
  return value;
}

} // namespace mlir::rn
