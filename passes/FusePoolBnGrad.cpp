// rnc-fuse-pool-bn-grad: max_pool2d_grad -> batch_norm_relu_grad ==>
// rn.max_pool2d_bn_relu_grad (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"
#include "passes/FusionDriver.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSEPOOLBNGRAD
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// Windows that tile the input: stride == kernel, no padding (each input
/// element in at most one window).
bool windowsTile(MaxPool2DGradOp pool) {
  ArrayRef<int64_t> k = pool.getKernel(), p = pool.getPadding();
  ArrayRef<int64_t> s = pool.getStride().value_or(k);
  return k == s && llvm::all_of(p, [](int64_t v) { return v == 0; });
}

/// A max_pool2d_grad over windows that tile its input, whose result only a
/// batch_norm_relu_grad reads, as its result gradient, over the pool's own
/// input.
struct FusePoolBnGradPattern : OpRewritePattern<MaxPool2DGradOp> {
  FusePoolBnGradPattern(MLIRContext *ctx, FusionRemarks &remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}

  LogicalResult matchAndRewrite(MaxPool2DGradOp pool,
                                PatternRewriter &rewriter) const override {
    Value dy = pool.getInputGrad();
    auto bn = dy.hasOneUse()
                  ? dyn_cast<BatchNormReluGradOp>(*dy.getUsers().begin())
                  : BatchNormReluGradOp();
    if (!bn || bn.getResultGrad() != dy)
      return rewriter.notifyMatchFailure(pool, [&](Diagnostic &d) {
        auto users = std::distance(dy.use_begin(), dy.use_end());
        d << "the pool's input gradient is not read by a "
             "batch_norm_relu_grad alone ("
          << users << (users == 1 ? " user)" : " users)");
      });
    if (bn.getReluResult() != pool.getInput())
      return rewriter.notifyMatchFailure(pool, [&](Diagnostic &d) {
        d << "the pool's input is not the ReLU result of the BN gradient";
      });
    if (!windowsTile(pool))
      return rewriter.notifyMatchFailure(pool, [&](Diagnostic &d) {
        d << "the windows overlap or pad (the fused kernel would route the "
             "gradient once per BN pass; measured slower)";
      });
    rewriter.setInsertionPoint(bn);
    auto fused = rewriter.create<MaxPool2DBatchNormReluGradOp>(
        bn.getLoc(), pool.getResultGrad(), bn.getReluResult(), bn.getInput(),
        bn.getMean(), bn.getInvStd(), bn.getScale(), pool.getKernelAttr(),
        pool.getStrideAttr(), pool.getPaddingAttr());
    remarks.fused(fused, "max_pool2d_grad + batch_norm_relu_grad (the pool's "
                         "gradient routed inside the BN backward)");
    rewriter.replaceOp(bn, fused.getResults());
    rewriter.eraseOp(pool);
    return success();
  }

  FusionRemarks &remarks;
};

class FusePoolBnGrad : public rn::impl::FusePoolBnGradBase<FusePoolBnGrad> {
public:
  using FusePoolBnGradBase::FusePoolBnGradBase;

  void runOnOperation() override {
    runFusionPass<FusePoolBnGradPattern>(
        getOperation(), FunctionRole::TrainStep, explain, /*immediate=*/true);
  }
};

} // namespace
