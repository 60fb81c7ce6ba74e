// rnc-fuse-bn-grad-reduce: conv2d_grad_input[_fanin] -> batch_norm[_relu]_grad
// ==> rn.conv2d_grad_input_bn_reduce + rn.batch_norm_grad_from_sums
// (see Passes.td).
#include "passes/Passes.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"
#include "passes/FusionDriver.h"

#include "mlir/IR/Dominance.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSEBNGRADREDUCE
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// The operands of a BN gradient, for both of its forms.
struct BnGrad {
  Operation *op;
  Value resultGrad;
  Value reluResult; // null for rn.batch_norm_grad
  Value input, mean, invStd, scale;
};

template <class BnGradOp> BnGrad fieldsOf(BnGradOp bn, Value reluResult) {
  return BnGrad{bn,           bn.getResultGrad(), reluResult,   bn.getInput(),
                bn.getMean(), bn.getInvStd(),     bn.getScale()};
}

/// `op` is an rn.batch_norm_grad or rn.batch_norm_relu_grad.
BnGrad asBnGrad(Operation *op) {
  if (auto bn = dyn_cast<BatchNormReluGradOp>(op))
    return fieldsOf(bn, bn.getReluResult());
  return fieldsOf(cast<BatchNormGradOp>(op), Value());
}

std::string kindOf(Operation *op) { return op->getName().stripDialect().str(); }

/// Why `bn` cannot take its reductions from the convolution producing its
/// result gradient, or "" if it can.
std::string whyNot(const BnGrad &bn, DominanceInfo &dom) {
  Value g = bn.resultGrad;
  Operation *conv = g.getDefiningOp();
  if (!conv)
    return "its result gradient is a function argument";
  if (isa<Conv2DGradInputBnReduceOp>(conv))
    return "the conv input gradient it reads already carries the reductions "
           "of another BN gradient (the output gradient of a projection "
           "block feeds the branch and the shortcut BN)";
  if (!isa<Conv2DGradInputOp, Conv2DGradInputFanInOp>(conv))
    return "its result gradient comes from " + kindOf(conv) +
           ", not a conv input gradient";
  if (bn.reluResult) {
    auto fanin = dyn_cast<Conv2DGradInputFanInOp>(conv);
    if (fanin && fanin.getReluResult())
      return "its result gradient is already masked by another ReLU";
    if (!g.hasOneUse())
      return "the conv input gradient has other users that read it unmasked "
             "(the BN's ReLU mask cannot move into the convolution)";
  }
  if (!dom.properlyDominates(bn.input, conv))
    return "its input is not computed before the conv input gradient";
  if (!dom.properlyDominates(bn.mean, conv))
    return "its mean is not computed before the conv input gradient";
  return "";
}

/// Replaces the conv input gradient `conv` and `bn` with the fused pair;
/// returns the new convolution.
Conv2DGradInputBnReduceOp fuse(RewriterBase &rewriter, Operation *conv,
                               const BnGrad &bn) {
  Value dy, w, addend, relu = bn.reluResult;
  DenseI64ArrayAttr stride, padding, dilation;
  IntegerAttr groups;
  if (auto c = dyn_cast<Conv2DGradInputOp>(conv)) {
    dy = c.getResultGrad();
    w = c.getWeight();
    stride = c.getStrideAttr();
    padding = c.getPaddingAttr();
    dilation = c.getDilationAttr();
    groups = c.getGroupsAttr();
  } else {
    auto f = cast<Conv2DGradInputFanInOp>(conv);
    dy = f.getResultGrad();
    w = f.getWeight();
    addend = f.getAddend();
    if (f.getReluResult())
      relu = f.getReluResult();
    stride = f.getStrideAttr();
    padding = f.getPaddingAttr();
    dilation = f.getDilationAttr();
    groups = f.getGroupsAttr();
  }
  Type g = bn.resultGrad.getType(), vec = bn.mean.getType();
  rewriter.setInsertionPoint(conv);
  auto fused = rewriter.create<Conv2DGradInputBnReduceOp>(
      conv->getLoc(), TypeRange{g, vec, vec}, dy, w, addend, relu, bn.input,
      bn.mean, stride, padding, dilation, groups);
  // The stored gradient keeps every user (masked only if the BN was its
  // only one: see whyNot).
  rewriter.replaceAllUsesWith(conv->getResult(0), fused.getInputGrad());
  rewriter.setInsertionPoint(bn.op);
  auto dx = rewriter.create<BatchNormGradFromSumsOp>(
      bn.op->getLoc(), fused.getInputGrad(), bn.input, bn.mean, bn.invStd,
      bn.scale, fused.getGradSum(), fused.getGradDevSum());
  rewriter.replaceOp(bn.op, dx->getResults());
  rewriter.eraseOp(conv);
  return fused;
}

/// A BN gradient (rn.batch_norm_grad or rn.batch_norm_relu_grad) whose
/// result gradient a conv input gradient produces.
template <class BnGradOp>
struct FuseBnGradReducePattern : OpRewritePattern<BnGradOp> {
  FuseBnGradReducePattern(MLIRContext *ctx, DominanceInfo &dom,
                          FusionRemarks &remarks)
      : OpRewritePattern<BnGradOp>(ctx), dom(dom), remarks(remarks) {}

  LogicalResult matchAndRewrite(BnGradOp op,
                                PatternRewriter &rewriter) const override {
    BnGrad bn = asBnGrad(op);
    std::string why = whyNot(bn, dom);
    if (!why.empty())
      return rewriter.notifyMatchFailure(op, why);
    Operation *conv = bn.resultGrad.getDefiningOp();
    std::string what = kindOf(conv) + " + " + kindOf(op);
    bool maskMoves = bool(bn.reluResult);
    Conv2DGradInputBnReduceOp fused = fuse(rewriter, conv, bn);
    remarks.fused(fused, what + " (the BN's per-channel sums" +
                             (maskMoves ? " and its ReLU mask" : "") +
                             " in the transposed convolution's epilogue; dx, "
                             "dgamma, dbeta from the sums in one pass)");
    return success();
  }

  DominanceInfo &dom;
  FusionRemarks &remarks;
};

class FuseBnGradReduce
    : public rn::impl::FuseBnGradReduceBase<FuseBnGradReduce> {
public:
  using FuseBnGradReduceBase::FuseBnGradReduceBase;

  void runOnOperation() override {
    func::FuncOp step = getOperation();
    if (!hasRole(step, FunctionRole::TrainStep) || step.isExternal())
      return;
    DominanceInfo dom(step);
    FusionRemarks remarks(explain, /*immediate=*/true);
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseBnGradReducePattern<BatchNormGradOp>,
                 FuseBnGradReducePattern<BatchNormReluGradOp>>(&getContext(),
                                                               dom, remarks);
    applyFusionPatterns(step, FrozenRewritePatternSet(std::move(patterns)),
                        remarks);
  }
};

} // namespace
