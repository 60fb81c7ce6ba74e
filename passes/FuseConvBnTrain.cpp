// rnc-fuse-conv-bn-train: conv2d -> batch_norm_train [-> add] [-> relu]
// ==> rn.conv2d_bn_train (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"

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

/// The only user of `v`, if it has exactly one.
Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

/// One fusion candidate, from the BN to the last op it absorbs.
struct Chain {
  Conv2DOp conv;
  BatchNormTrainOp bn;
  AddOp add;    // null if not fused
  Value residual;
  ReluOp relu;  // null if not fused
  Operation *last() const {
    if (relu)
      return relu->getOpResult(0).getOwner();
    if (add)
      return add->getOpResult(0).getOwner();
    return bn->getOpResult(0).getOwner();
  }
  Value out() const { return last()->getResult(0); }
};

FailureOr<Chain> match(BatchNormTrainOp bn) {
  Chain c;
  c.bn = bn;
  c.conv = bn.getInput().getDefiningOp<Conv2DOp>();
  if (!c.conv)
    return failure();
  for (Operation *user : c.conv.getResult().getUsers())
    if (user != bn && !readsSavedValue(user))
      return failure(); // a conv feeding two blocks
  Value v = bn.getResult();
  if (auto add = dyn_cast_or_null<AddOp>(soleUser(v))) {
    c.add = add;
    c.residual = add.getLhs() == v ? add.getRhs() : add.getLhs();
    if (c.residual == v)
      c.add = nullptr, c.residual = Value();
    else
      v = add.getResult();
  }
  // Only a value with one user is absorbed (a BN output or a sum that is
  // used twice stays materialized). The ReLU's gradient reads the ReLU's
  // output, which the fused op produces.
  if (auto relu = dyn_cast_or_null<ReluOp>(soleUser(v)))
    c.relu = relu;
  return c;
}

void fuse(Chain c) {
  OpBuilder b(c.last());
  Conv2DOp conv = c.conv;
  auto fused = b.create<Conv2DBatchNormTrainOp>(
      c.bn.getLoc(),
      TypeRange{conv.getType(), conv.getType(), c.bn.getMean().getType(),
                c.bn.getInvStd().getType()},
      conv.getInput(), conv.getWeight(), conv.getBias(), c.bn.getScale(),
      c.bn.getShift(), c.residual, conv.getStrideAttr(),
      conv.getPaddingAttr(), conv.getDilationAttr(), conv.getGroupsAttr(),
      c.bn.getEpsilonAttr(), c.relu ? b.getUnitAttr() : UnitAttr());
  // The running updates read the statistics: they move after the fused op.
  for (Operation *user :
       llvm::make_early_inc_range(c.bn.getMean().getUsers()))
    if (isa<BatchNormRunningUpdateOp>(user))
      user->moveAfter(fused);
  c.out().replaceAllUsesWith(fused.getResult());
  c.bn.getMean().replaceAllUsesWith(fused.getMean());
  c.bn.getInvStd().replaceAllUsesWith(fused.getInvStd());
  conv.getResult().replaceAllUsesWith(fused.getConvResult());
  if (c.relu)
    c.relu.erase();
  if (c.add)
    c.add.erase();
  c.bn.erase();
  conv.erase();
}

class FuseConvBnTrain : public rn::impl::FuseConvBnTrainBase<FuseConvBnTrain> {
public:
  void runOnOperation() override {
    auto step = getOperation().lookupSymbol<func::FuncOp>("train_step");
    if (!step || step.isExternal())
      return;
    SmallVector<BatchNormTrainOp> bns(
        step.getBody().front().getOps<BatchNormTrainOp>());
    for (BatchNormTrainOp bn : bns)
      if (FailureOr<Chain> c = match(bn); succeeded(c))
        fuse(*c);
  }
};

} // namespace
