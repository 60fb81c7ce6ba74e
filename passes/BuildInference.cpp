// rnc-build-inference: @forward ==> @eval, batch norm on running statistics.
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
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward || forward.isExternal()) {
      module.emitError("rnc-build-inference: expected a func @forward with a "
                       "body");
      return signalPassFailure();
    }
    if (module.lookupSymbol("eval")) {
      module.emitError("rnc-build-inference: @eval already exists");
      return signalPassFailure();
    }
    auto eval = cast<func::FuncOp>(forward->clone());
    eval.setSymName("eval");
    module.push_back(eval);
    eval.walk([](BatchNormOp bn) { bn.setTraining(false); });
  }
};

} // namespace
