// rnc-fuse-conv-bn-train: conv2d -> batch_norm_train [-> add] [-> relu]
// ==> rn.conv2d_bn_train (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"
#include "passes/EpilogueChain.h"
#include "passes/FusionRemarks.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSECONVBNTRAIN
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// Backward ops and the running update read the conv output; they do not
/// stop the fusion.
bool readsSavedValue(Operation *user) {
  return isa<BatchNormGradOp, BatchNormRunningUpdateOp, Conv2DGradWeightOp,
             MaxPool2DGradOp, ReluGradOp>(user);
}

/// Why `bn` cannot be fused with its producer, or "" if it can.
std::string whyNot(BatchNormTrainOp bn) {
  auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
  if (!conv) {
    Operation *def = bn.getInput().getDefiningOp();
    return std::string("its input comes from ") +
           (def ? def->getName().getStringRef().str() : "an argument") +
           ", not a conv";
  }
  for (Operation *user : conv.getResult().getUsers())
    if (user != bn && !readsSavedValue(user))
      return "the conv output also feeds " +
             user->getName().getStringRef().str() + " (a second block)";
  return "";
}

void fuse(BatchNormTrainOp bn, FusionRemarks &remarks) {
  auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
  EpilogueChain c = matchEpilogue(bn, bn.getResult());
  OpBuilder b(c.last());
  auto fused = b.create<Conv2DBatchNormTrainOp>(
      bn.getLoc(),
      TypeRange{conv.getType(), conv.getType(), bn.getMean().getType(),
                bn.getInvStd().getType()},
      conv.getInput(), conv.getWeight(), conv.getBias(), bn.getScale(),
      bn.getShift(), c.residual, conv.getStrideAttr(), conv.getPaddingAttr(),
      conv.getDilationAttr(), conv.getGroupsAttr(), bn.getEpsilonAttr(),
      c.relu ? b.getUnitAttr() : UnitAttr());
  // The running updates read the statistics: they move after the fused op.
  for (Operation *user : llvm::make_early_inc_range(bn.getMean().getUsers()))
    if (isa<BatchNormRunningUpdateOp>(user))
      user->moveAfter(fused);
  bn.getMean().replaceAllUsesWith(fused.getMean());
  bn.getInvStd().replaceAllUsesWith(fused.getInvStd());
  conv.getResult().replaceAllUsesWith(fused.getConvResult());
  std::string tail = c.describe();
  remarks.fused(fused, "conv2d + batch_norm_train (statistics in the conv "
                       "epilogue, one apply pass" +
                           (tail.empty() ? std::string(")")
                                         : " with " + tail + " as its epilogue)"));
  replaceChain(c, fused.getResult(), bn, conv, remarks);
}

class FuseConvBnTrain : public rn::impl::FuseConvBnTrainBase<FuseConvBnTrain> {
public:
  using FuseConvBnTrainBase::FuseConvBnTrainBase;

  void runOnOperation() override {
    auto step = getOperation().lookupSymbol<func::FuncOp>("train_step");
    if (!step || step.isExternal())
      return;
    FusionRemarks remarks(explain);
    SmallVector<BatchNormTrainOp> bns(
        step.getBody().front().getOps<BatchNormTrainOp>());
    for (BatchNormTrainOp bn : bns) {
      std::string why = whyNot(bn);
      if (why.empty())
        fuse(bn, remarks);
      else
        remarks.skipped(bn, why);
    }
    remarks.finish(step);
  }
};

} // namespace
