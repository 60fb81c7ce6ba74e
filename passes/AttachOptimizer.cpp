// rnc-attach-optimizer: turns @train_step's gradient results into in-place
// SGD updates (momentum, weight decay) with run-time hyperparameters.
#include "dialect/FunctionRoles.h"
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::rn {
#define GEN_PASS_DEF_ATTACHOPTIMIZER
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

class AttachOptimizer : public rn::impl::AttachOptimizerBase<AttachOptimizer> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = lookupFunction(module, FunctionRole::TrainStep);
    if (!step || step.isExternal())
      return;
    llvm::BitVector gradResults(step.getNumResults());
    for (unsigned i = 0; i < step.getNumResults(); ++i)
      gradResults[i] = bool(step.getResultAttr(i, "rn.grad_of"));
    if (gradResults.none())
      return;

    Block &body = step.getBody().front();
    llvm::StringMap<ParamOp> params;
    for (ParamOp p : body.getOps<ParamOp>())
      params.try_emplace(p.getName(), p);

    // Hyperparameters: three f32 arguments.
    Type f32 = Float32Type::get(&getContext());
    Value hyper[3];
    const char *names[3] = {"lr", "momentum", "weight_decay"};
    OpBuilder b(&getContext());
    for (int i = 0; i < 3; ++i) {
      unsigned index = step.getNumArguments();
      step.insertArgument(index, f32,
                          b.getDictionaryAttr(b.getNamedAttr(
                              "rn.hyper", b.getStringAttr(names[i]))),
                          step.getLoc());
      hyper[i] = step.getArgument(index);
    }

    auto ret = cast<func::ReturnOp>(body.getTerminator());
    for (unsigned i : gradResults.set_bits()) {
      auto name = cast<StringAttr>(step.getResultAttr(i, "rn.grad_of"));
      ParamOp param = params.lookup(name.getValue());
      if (!param) {
        step.emitError("rnc-attach-optimizer: gradient result ")
            << i << " names no rn.param \"" << name.getValue() << "\"";
        return signalPassFailure();
      }
      b.setInsertionPointAfter(param);
      auto buffer = b.create<ParamOp>(
          param.getLoc(), param.getType(),
          b.getStringAttr(name.getValue() + ".momentum_buffer"),
          b.getStringAttr("zeros"), UnitAttr(), b.getUnitAttr());
      b.setInsertionPoint(ret);
      b.create<SgdUpdateOp>(param.getLoc(), param, buffer,
                            ret.getOperand(i), hyper[0], hyper[1], hyper[2]);
    }
    ret->eraseOperands(gradResults);
    step.eraseResults(gradResults);
  }
};

} // namespace
