// rnc-fuse-grad-fan-in: conv2d_grad_input -> add [-> relu_grad] ==>
// rn.conv2d_grad_input_fanin (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"

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

class FuseGradFanIn : public rn::impl::FuseGradFanInBase<FuseGradFanIn> {
public:
  using FuseGradFanInBase::FuseGradFanInBase;

  void runOnOperation() override {
    auto step = getOperation().lookupSymbol<func::FuncOp>("train_step");
    if (!step || step.isExternal())
      return;
    SmallVector<AddOp> adds(step.getBody().front().getOps<AddOp>());
    for (AddOp add : adds) {
      Conv2DGradInputOp conv = fusableOperand(add);
      if (!conv) {
        if (explain)
          add.emitRemark() << "not fused: no operand of the gradient sum is a "
                              "conv input gradient with no other user";
        continue;
      }
      Value addend = add.getLhs() == conv.getInputGrad() ? add.getRhs()
                                                         : add.getLhs();
      std::string why;
      ReluGradOp relu = maskOf(add.getResult(), why);
      Operation *last = relu ? relu.getOperation() : add.getOperation();
      OpBuilder b(last);
      auto fused = b.create<Conv2DGradInputFanInOp>(
          conv.getLoc(), conv.getInputGrad().getType(), conv.getResultGrad(),
          conv.getWeight(), addend, relu ? relu.getResult() : Value(),
          conv.getStrideAttr(), conv.getPaddingAttr(), conv.getDilationAttr(),
          conv.getGroupsAttr());
      if (explain) {
        InFlightDiagnostic d = fused.emitRemark();
        d << "fused: conv2d_grad_input + add" << (relu ? " + relu_grad" : "")
          << " (the gradient fan-in" << (relu ? " and the ReLU mask" : "")
          << " in the transposed convolution's epilogue)";
        if (!relu)
          d << "; ReLU mask not fused: " << why;
      }
      last->getResult(0).replaceAllUsesWith(fused.getInputGrad());
      if (relu)
        relu.erase();
      add.erase();
      conv.erase();
    }
  }
};

} // namespace
