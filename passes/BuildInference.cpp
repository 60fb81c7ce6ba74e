// rnc-build-inference: @forward ==> @eval, batch norm on running statistics.
#include "dialect/FunctionRoles.h"
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::rn {
#define GEN_PASS_DEF_BUILDINFERENCE
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

class BuildInference : public rn::impl::BuildInferenceBase<BuildInference> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = lookupFunction(module, FunctionRole::Forward);
    if (!forward || forward.isExternal()) {
      module.emitError("rnc-build-inference: expected a func with rn.role = "
                       "\"forward\" and a body");
      return signalPassFailure();
    }
    if (auto existing = lookupFunction(module, FunctionRole::Eval)) {
      existing.emitError("rnc-build-inference: an eval function already "
                         "exists");
      return signalPassFailure();
    }
    auto eval = cast<func::FuncOp>(forward->clone());
    eval.setSymName(roleName(FunctionRole::Eval));
    setRole(eval, FunctionRole::Eval);
    module.push_back(eval);
    eval.walk([](BatchNormOp bn) { bn.setTraining(false); });
  }
};

} // namespace
