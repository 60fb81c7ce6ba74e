// What each function of an `rn` module is for, carried by its `rn.role`
// attribute (not by its name): the front end's model ("forward"), the
// training step the pipeline builds ("train_step") and the inference
// function ("eval"). Passes and code generation find functions by role; the
// dialect verifies the attribute (a known role, on a func.func, at most one
// function per role in a module).
#ifndef RNC_DIALECT_FUNCTIONROLES_H
#define RNC_DIALECT_FUNCTIONROLES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace mlir::rn {

enum class FunctionRole { Forward, TrainStep, Eval };

/// The attribute that names a function's role.
constexpr llvm::StringLiteral kRoleAttrName = "rn.role";

/// "forward", "train_step", "eval": the attribute value, and the symbol name
/// the passes give the functions they create.
llvm::StringRef roleName(FunctionRole role);
std::optional<FunctionRole> parseRole(llvm::StringRef name);

std::optional<FunctionRole> getRole(func::FuncOp func);
bool hasRole(func::FuncOp func, FunctionRole role);
void setRole(func::FuncOp func, FunctionRole role);

/// The function of `module` with `role`, or null.
func::FuncOp lookupFunction(ModuleOp module, FunctionRole role);

/// Checks an `rn.role` attribute on `op` (the dialect's attribute verifier).
LogicalResult verifyRoleAttribute(Operation *op, Attribute value);

} // namespace mlir::rn

#endif // RNC_DIALECT_FUNCTIONROLES_H
