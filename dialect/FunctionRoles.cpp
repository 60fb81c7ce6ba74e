// Function roles (FunctionRoles.h).
#include "dialect/FunctionRoles.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::rn {

llvm::StringRef roleName(FunctionRole role) {
  switch (role) {
  case FunctionRole::Forward:
    return "forward";
  case FunctionRole::TrainStep:
    return "train_step";
  case FunctionRole::Eval:
    return "eval";
  }
  return "forward";
}

std::optional<FunctionRole> parseRole(llvm::StringRef name) {
  for (FunctionRole r :
       {FunctionRole::Forward, FunctionRole::TrainStep, FunctionRole::Eval})
    if (name == roleName(r))
      return r;
  return std::nullopt;
}

std::optional<FunctionRole> getRole(func::FuncOp func) {
  auto attr = func->getAttrOfType<StringAttr>(kRoleAttrName);
  return attr ? parseRole(attr.getValue()) : std::nullopt;
}

bool hasRole(func::FuncOp func, FunctionRole role) {
  return getRole(func) == role;
}

void setRole(func::FuncOp func, FunctionRole role) {
  func->setAttr(kRoleAttrName,
                StringAttr::get(func.getContext(), roleName(role)));
}

func::FuncOp lookupFunction(ModuleOp module, FunctionRole role) {
  for (auto func : module.getOps<func::FuncOp>())
    if (hasRole(func, role))
      return func;
  return nullptr;
}

LogicalResult verifyRoleAttribute(Operation *op, Attribute value) {
  auto func = dyn_cast<func::FuncOp>(op);
  if (!func)
    return op->emitError() << "'" << kRoleAttrName
                           << "' is only valid on a func.func";
  auto name = dyn_cast<StringAttr>(value);
  if (!name || !parseRole(name.getValue()))
    return op->emitError() << "'" << kRoleAttrName
                           << "' must be \"forward\", \"train_step\" or "
                              "\"eval\", got "
                           << value;
  // The second of two functions with one role is the error.
  if (auto module = dyn_cast_or_null<ModuleOp>(op->getParentOp()))
    for (auto other : module.getOps<func::FuncOp>()) {
      if (other == func)
        break;
      if (other->getAttr(kRoleAttrName) == value)
        return op->emitError()
               << "a second function with " << kRoleAttrName << " = " << name
               << " (the first is @" << other.getSymName() << ")";
    }
  return success();
}

} // namespace mlir::rn
