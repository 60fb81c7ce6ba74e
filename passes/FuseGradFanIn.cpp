// rnc-fuse-grad-fan-in: conv2d_grad_input -> add [-> relu_grad] ==>
// rn.conv2d_grad_input_fanin (see Passes.td).
#include "passes/Passes.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"
#include "passes/FusionDriver.h"


namespace mlir::rn {
#define GEN_PASS_DEF_FUSEGRADFANIN
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

/// The operand of `add` that is a conv input gradient used only by `add`
/// (the first such), or null.
Conv2DGradInputOp fusableOperand(AddOp add) {
  for (Value v : add->getOperands())
    if (auto conv = v.getDefiningOp<Conv2DGradInputOp>())
      if (v.hasOneUse())
        return conv;
  return {};
}

/// The relu_grad that masks `sum` if the add can absorb it: `sum`'s only
/// user, reading it as the result gradient, and not feeding just a
/// batch_norm_grad (rnc-fuse-relu-bn-grad takes those).
ReluGradOp maskOf(Value sum, std::string &why) {
  if (!sum.hasOneUse()) {
    why = "the sum has other users";
    return {};
  }
  auto relu = dyn_cast<ReluGradOp>(*sum.getUsers().begin());
  if (!relu || relu.getResultGrad() != sum) {
    why = "the sum is not masked by a ReLU";
    return {};
  }
  Value masked = relu.getInputGrad();
  if (masked.hasOneUse() &&
      isa<BatchNormGradOp, BatchNormReluGradOp>(*masked.getUsers().begin())) {
    why = "the ReLU mask goes into the batch-norm gradient instead";
    return {};
  }
  return relu;
}

/// add(conv2d_grad_input, other) [-> relu_grad]: the gradient fan-in of a
/// block output, with the ReLU mask if the sum's only user is one.
struct FuseGradFanInPattern : OpRewritePattern<AddOp> {
  FuseGradFanInPattern(MLIRContext *ctx, FusionRemarks &remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    Conv2DGradInputOp conv = fusableOperand(add);
    if (!conv)
      return rewriter.notifyMatchFailure(
          add, "no operand of the gradient sum is a conv input gradient "
               "with no other user");
    Value addend =
        add.getLhs() == conv.getInputGrad() ? add.getRhs() : add.getLhs();
    std::string why;
    ReluGradOp relu = maskOf(add.getResult(), why);
    Operation *last = relu ? relu.getOperation() : add.getOperation();
    rewriter.setInsertionPoint(last);
    auto fused = rewriter.create<Conv2DGradInputFanInOp>(
        conv.getLoc(), conv.getInputGrad().getType(), conv.getResultGrad(),
        conv.getWeight(), addend, relu ? relu.getResult() : Value(),
        conv.getStrideAttr(), conv.getPaddingAttr(), conv.getDilationAttr(),
        conv.getGroupsAttr());
    std::string what = std::string("conv2d_grad_input + add") +
                       (relu ? " + relu_grad" : "") + " (the gradient fan-in" +
                       (relu ? " and the ReLU mask" : "") +
                       " in the transposed convolution's epilogue)";
    if (!relu)
      what += "; ReLU mask not fused: " + why;
    remarks.fused(fused, what);
    rewriter.replaceAllUsesWith(last->getResult(0), fused.getInputGrad());
    if (relu)
      rewriter.eraseOp(relu);
    rewriter.eraseOp(add);
    rewriter.eraseOp(conv);
    return success();
  }

  FusionRemarks &remarks;
};

class FuseGradFanIn : public rn::impl::FuseGradFanInBase<FuseGradFanIn> {
public:
  using FuseGradFanInBase::FuseGradFanInBase;

  void runOnOperation() override {
    runFusionPass<FuseGradFanInPattern>(getOperation(), FunctionRole::TrainStep,
                                        explain, /*immediate=*/true);
  }
};

} // namespace
