// The add/ReLU tail of a conv + BN fusion (EpilogueChain.h).
#include "passes/EpilogueChain.h"

namespace mlir::rn {

namespace {

Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

/// Forward users only: gradient ops read saved values but do not consume
/// them in the forward dataflow.
size_t forwardUses(Value v) {
  return llvm::count_if(v.getUsers(), [](Operation *u) {
    return !isa<ReluGradOp, BatchNormGradOp, MaxPool2DGradOp,
                Conv2DGradWeightOp, LinearGradWeightOp>(u);
  });
}

} // namespace

std::string EpilogueChain::describe() const {
  if (add && relu)
    return "add + relu";
  return add ? "add" : relu ? "relu" : "";
}

EpilogueChain matchEpilogue(Operation *head, Value value) {
  EpilogueChain c;
  c.head = head;
  Value v = value;
  if (auto add = dyn_cast_or_null<AddOp>(soleUser(v))) {
    Value other = add.getLhs() == v ? add.getRhs() : add.getLhs();
    if (other != v) {
      c.add = add;
      c.residual = other;
      v = add.getResult();
    }
  }
  if (auto relu = dyn_cast_or_null<ReluOp>(soleUser(v)))
    c.relu = relu;
  if (!c.relu) {
    size_t uses = forwardUses(v);
    if (uses > 1)
      c.stopReason = "its output has " + std::to_string(uses) + " users";
    else if (uses == 0)
      c.stopReason = "its output is returned";
    else
      c.stopReason = std::string("its user is ") +
                     (*v.getUsers().begin())->getName().getStringRef().str();
  }
  return c;
}

} // namespace mlir::rn

#include "passes/FusionRemarks.h"

namespace mlir::rn {

void replaceChain(RewriterBase &rewriter, const EpilogueChain &c,
                  Value fusedOut, Operation *bn, Operation *conv,
                  FusionRemarks &remarks) {
  rewriter.replaceAllUsesWith(c.out(), fusedOut);
  for (Operation *user : fusedOut.getUsers())
    if (isa<ReluOp, AddOp>(user))
      remarks.skipped(user, "the fused output it reads is kept: " +
                                c.stopReason);
  if (c.relu)
    rewriter.eraseOp(c.relu);
  if (c.add)
    rewriter.eraseOp(c.add);
  rewriter.eraseOp(bn);
  rewriter.eraseOp(conv);
}

void FusionRemarks::finish(func::FuncOp func) {
  if (!enabled)
    return;
  bool backward = false;
  func.walk([&](Operation *op) {
    // The backward pass starts at the loss gradient; its gradient sums are
    // not fusion candidates of these passes.
    if (isa<SoftmaxCrossEntropyGradOp>(op)) {
      backward = true;
      op->emitRemark() << "backward pass: see rnc-fuse-grad-fan-in for the "
                          "gradient sums, rnc-fuse-relu-bn-grad for the "
                          "ReLU masks and rnc-fuse-bn-grad-reduce for the "
                          "BN gradients";
    }
    if (backward || !isa<BatchNormOp, BatchNormTrainOp, ReluOp, AddOp>(op))
      return;
    auto it = reasons.find(op);
    std::string why;
    if (it != reasons.end())
      why = it->second;
    else if (Operation *def = op->getOperand(0).getDefiningOp())
      why = "its input comes from " + def->getName().getStringRef().str() +
            ", not from a fused conv + BN chain";
    else
      why = "its input is a function argument";
    op->emitRemark() << "not fused: " << why;
  });
}

} // namespace mlir::rn
