// rnc-build-training-step: @forward(x) -> logits  ==>
//   @train_step(x, labels) -> (loss, correct), batch norm on batch statistics.
#include "dialect/FunctionRoles.h"
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::rn {
#define GEN_PASS_DEF_BUILDTRAININGSTEP
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// Replaces `bn` with batch_norm_train + batch_norm_running_update.
void lowerToBatchStatistics(BatchNormOp bn) {
  OpBuilder b(bn);
  auto train = b.create<BatchNormTrainOp>(bn.getLoc(), bn.getInput(),
                                          bn.getScale(), bn.getShift(),
                                          bn.getEpsilonAttr());
  b.create<BatchNormRunningUpdateOp>(
      bn.getLoc(), bn.getRunningMean(), bn.getRunningVar(), train.getMean(),
      train.getInvStd(), bn.getInput(), bn.getEpsilonAttr(),
      bn.getMomentumAttr());
  bn.getResult().replaceAllUsesWith(train.getResult());
  bn.erase();
}

class BuildTrainingStep
    : public rn::impl::BuildTrainingStepBase<BuildTrainingStep> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = lookupFunction(module, FunctionRole::Forward);
    if (!forward || forward.isExternal()) {
      module.emitError("rnc-build-training-step: expected a func with "
                       "rn.role = \"forward\" and a body");
      return signalPassFailure();
    }
    if (auto existing = lookupFunction(module, FunctionRole::TrainStep)) {
      existing.emitError("rnc-build-training-step: a training step already "
                         "exists");
      return signalPassFailure();
    }
    FunctionType type = forward.getFunctionType();
    auto input = type.getNumInputs() == 1
                     ? dyn_cast<RankedTensorType>(type.getInput(0))
                     : RankedTensorType();
    auto logits = type.getNumResults() == 1
                      ? dyn_cast<RankedTensorType>(type.getResult(0))
                      : RankedTensorType();
    if (!input || !logits || logits.getRank() != 2) {
      forward.emitError("rnc-build-training-step: expected @forward to take "
                        "one tensor and return one [N, K] tensor, got ")
          << type;
      return signalPassFailure();
    }

    auto step = cast<func::FuncOp>(forward->clone());
    step.setSymName(roleName(FunctionRole::TrainStep));
    setRole(step, FunctionRole::TrainStep);
    module.push_back(step);
    Block &body = step.getBody().front();
    MLIRContext *ctx = &getContext();
    auto labelsType =
        RankedTensorType::get({input.getDimSize(0)}, IntegerType::get(ctx, 32));
    Value labels = body.addArgument(labelsType, forward.getLoc());

    for (BatchNormOp bn : llvm::make_early_inc_range(body.getOps<BatchNormOp>()))
      lowerToBatchStatistics(bn);

    auto ret = cast<func::ReturnOp>(body.getTerminator());
    OpBuilder b(ret);
    Value out = ret.getOperand(0);
    Location loc = ret.getLoc();
    Value loss = b.create<SoftmaxCrossEntropyOp>(loc, out, labels);
    Value correct = b.create<CountCorrectOp>(loc, out, labels);
    b.create<func::ReturnOp>(loc, ValueRange{loss, correct});
    ret.erase();
    step.setFunctionType(FunctionType::get(
        ctx, {input, labelsType}, {loss.getType(), correct.getType()}));
  }
};

} // namespace
