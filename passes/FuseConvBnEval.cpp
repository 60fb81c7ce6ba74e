// rnc-fuse-conv-bn-eval: conv2d -> batch_norm (inference) [-> add] [-> relu]
// ==> rn.conv2d_bn_eval (see Passes.td).
#include "passes/Passes.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"
#include "passes/EpilogueChain.h"
#include "passes/FusionDriver.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSECONVBNEVAL
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// batch_norm (running statistics) of a conv2d, with its add/ReLU tail.
struct FuseConvBnEvalPattern : OpRewritePattern<BatchNormOp> {
  FuseConvBnEvalPattern(MLIRContext *ctx, FusionRemarks &remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}

  LogicalResult matchAndRewrite(BatchNormOp bn,
                                PatternRewriter &rewriter) const override {
    if (bn.getTraining())
      return rewriter.notifyMatchFailure(
          bn, "it uses batch statistics (training mode)");
    auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
    if (!conv) {
      Operation *def = bn.getInput().getDefiningOp();
      return rewriter.notifyMatchFailure(
          bn, "its input comes from " +
                  (def ? def->getName().getStringRef() : "an argument") +
                  ", not a conv");
    }
    if (!conv.getResult().hasOneUse())
      return rewriter.notifyMatchFailure(
          bn, "the conv output has another user (a conv feeding two blocks)");

    EpilogueChain c = matchEpilogue(bn, bn.getResult());
    rewriter.setInsertionPoint(c.last());
    auto fused = rewriter.create<Conv2DBatchNormEvalOp>(
        bn.getLoc(), conv.getType(), conv.getInput(), conv.getWeight(),
        conv.getBias(), bn.getScale(), bn.getShift(), bn.getRunningMean(),
        bn.getRunningVar(), c.residual, conv.getStrideAttr(),
        conv.getPaddingAttr(), conv.getDilationAttr(), conv.getGroupsAttr(),
        bn.getEpsilonAttr(), c.relu ? rewriter.getUnitAttr() : UnitAttr());
    std::string tail = c.describe();
    remarks.fused(fused,
                  "conv2d + batch_norm (running statistics folded into the "
                  "conv epilogue" +
                      (tail.empty() ? std::string(")") : ", then " + tail + ")"));
    replaceChain(rewriter, c, fused.getResult(), bn, conv, remarks);
    return success();
  }

  FusionRemarks &remarks;
};

class FuseConvBnEval : public rn::impl::FuseConvBnEvalBase<FuseConvBnEval> {
public:
  using FuseConvBnEvalBase::FuseConvBnEvalBase;

  void runOnOperation() override {
    runFusionPass<FuseConvBnEvalPattern>(getOperation(), FunctionRole::Eval,
                                         explain, /*immediate=*/false);
  }
};

} // namespace
