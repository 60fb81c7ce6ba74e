// rnc-fuse-conv-bn-train: conv2d -> batch_norm_train [-> add] [-> relu]
// ==> rn.conv2d_bn_train (see Passes.td).
#include "passes/Passes.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"
#include "passes/EpilogueChain.h"
#include "passes/FusionDriver.h"

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

/// batch_norm_train of a conv2d, with the add/ReLU tail it can absorb.
struct FuseConvBnTrainPattern : OpRewritePattern<BatchNormTrainOp> {
  FuseConvBnTrainPattern(MLIRContext *ctx, FusionRemarks &remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}

  LogicalResult matchAndRewrite(BatchNormTrainOp bn,
                                PatternRewriter &rewriter) const override {
    auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
    if (!conv) {
      Operation *def = bn.getInput().getDefiningOp();
      return rewriter.notifyMatchFailure(
          bn, "its input comes from " +
                  (def ? def->getName().getStringRef() : "an argument") +
                  ", not a conv");
    }
    for (Operation *user : conv.getResult().getUsers())
      if (user != bn && !readsSavedValue(user))
        return rewriter.notifyMatchFailure(
            bn, "the conv output also feeds " + user->getName().getStringRef() +
                    " (a second block)");

    EpilogueChain c = matchEpilogue(bn, bn.getResult());
    rewriter.setInsertionPoint(c.last());
    auto fused = rewriter.create<Conv2DBatchNormTrainOp>(
        bn.getLoc(),
        TypeRange{conv.getType(), conv.getType(), bn.getMean().getType(),
                  bn.getInvStd().getType()},
        conv.getInput(), conv.getWeight(), conv.getBias(), bn.getScale(),
        bn.getShift(), c.residual, conv.getStrideAttr(),
        conv.getPaddingAttr(), conv.getDilationAttr(), conv.getGroupsAttr(),
        bn.getEpsilonAttr(), c.relu ? rewriter.getUnitAttr() : UnitAttr());
    // The running updates read the statistics: they move after the fused op.
    for (Operation *user :
         llvm::make_early_inc_range(bn.getMean().getUsers()))
      if (isa<BatchNormRunningUpdateOp>(user))
        rewriter.moveOpAfter(user, fused);
    rewriter.replaceAllUsesWith(bn.getMean(), fused.getMean());
    rewriter.replaceAllUsesWith(bn.getInvStd(), fused.getInvStd());
    rewriter.replaceAllUsesWith(conv.getResult(), fused.getConvResult());
    std::string tail = c.describe();
    remarks.fused(fused, "conv2d + batch_norm_train (statistics in the conv "
                         "epilogue, one apply pass" +
                             (tail.empty()
                                  ? std::string(")")
                                  : " with " + tail + " as its epilogue)"));
    replaceChain(rewriter, c, fused.getResult(), bn, conv, remarks);
    return success();
  }

  FusionRemarks &remarks;
};

class FuseConvBnTrain : public rn::impl::FuseConvBnTrainBase<FuseConvBnTrain> {
public:
  using FuseConvBnTrainBase::FuseConvBnTrainBase;

  void runOnOperation() override {
    runFusionPass<FuseConvBnTrainPattern>(
        getOperation(), FunctionRole::TrainStep, explain, /*immediate=*/false);
  }
};

} // namespace
