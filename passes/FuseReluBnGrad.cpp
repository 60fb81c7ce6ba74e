// rnc-fuse-relu-bn-grad: relu_grad -> batch_norm_grad ==>
// rn.batch_norm_relu_grad (see Passes.td).
#include "passes/Passes.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"
#include "passes/FusionDriver.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSERELUBNGRAD
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// A relu_grad whose masked gradient only a batch_norm_grad reads.
struct FuseReluBnGradPattern : OpRewritePattern<ReluGradOp> {
  FuseReluBnGradPattern(MLIRContext *ctx, FusionRemarks &remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}

  LogicalResult matchAndRewrite(ReluGradOp relu,
                                PatternRewriter &rewriter) const override {
    Value masked = relu.getInputGrad(); // the masked gradient (op result)
    auto bn = masked.hasOneUse()
                  ? dyn_cast<BatchNormGradOp>(*masked.getUsers().begin())
                  : BatchNormGradOp();
    if (!bn || bn.getResultGrad() != masked)
      return rewriter.notifyMatchFailure(relu, [&](Diagnostic &d) {
        d << "the ReLU's gradient has "
          << std::distance(masked.use_begin(), masked.use_end())
          << " users (a block output fans out to the branch and the "
             "shortcut)";
      });
    rewriter.setInsertionPoint(bn);
    auto fused = rewriter.create<BatchNormReluGradOp>(
        bn.getLoc(), relu.getResultGrad(), relu.getResult(), bn.getInput(),
        bn.getMean(), bn.getInvStd(), bn.getScale());
    remarks.fused(fused, "relu_grad + batch_norm_grad (the ReLU mask applied "
                         "inside the BN reductions)");
    rewriter.replaceOp(bn, fused.getResults());
    rewriter.eraseOp(relu);
    return success();
  }

  FusionRemarks &remarks;
};

class FuseReluBnGrad : public rn::impl::FuseReluBnGradBase<FuseReluBnGrad> {
public:
  using FuseReluBnGradBase::FuseReluBnGradBase;

  void runOnOperation() override {
    runFusionPass<FuseReluBnGradPattern>(
        getOperation(), FunctionRole::TrainStep, explain, /*immediate=*/true);
  }
};

} // namespace
