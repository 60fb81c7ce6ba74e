// rnc-fuse-conv-bn-eval: conv2d -> batch_norm (eval) [-> add] [-> relu]
// ==> rn.conv2d_bn_eval (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"
#include "passes/EpilogueChain.h"
#include "passes/FusionRemarks.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSECONVBNEVAL
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

std::string whyNot(BatchNormOp bn) {
  if (bn.getTraining())
    return "it uses batch statistics (training mode)";
  auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
  if (!conv) {
    Operation *def = bn.getInput().getDefiningOp();
    return std::string("its input comes from ") +
           (def ? def->getName().getStringRef().str() : "an argument") +
           ", not a conv";
  }
  if (!conv.getResult().hasOneUse())
    return "the conv output has another user (a conv feeding two blocks)";
  return "";
}

void fuse(BatchNormOp bn, FusionRemarks &remarks) {
  auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
  EpilogueChain c = matchEpilogue(bn, bn.getResult());
  OpBuilder b(c.last());
  auto fused = b.create<Conv2DBatchNormEvalOp>(
      bn.getLoc(), conv.getType(), conv.getInput(), conv.getWeight(),
      conv.getBias(), bn.getScale(), bn.getShift(), bn.getRunningMean(),
      bn.getRunningVar(), c.residual, conv.getStrideAttr(),
      conv.getPaddingAttr(), conv.getDilationAttr(), conv.getGroupsAttr(),
      bn.getEpsilonAttr(), c.relu ? b.getUnitAttr() : UnitAttr());
  std::string tail = c.describe();
  remarks.fused(fused, "conv2d + batch_norm (running statistics folded into "
                       "the conv epilogue" +
                           (tail.empty() ? std::string(")")
                                         : ", then " + tail + ")"));
  replaceChain(c, fused.getResult(), bn, conv, remarks);
}

class FuseConvBnEval : public rn::impl::FuseConvBnEvalBase<FuseConvBnEval> {
public:
  using FuseConvBnEvalBase::FuseConvBnEvalBase;

  void runOnOperation() override {
    auto eval = getOperation().lookupSymbol<func::FuncOp>("eval");
    if (!eval || eval.isExternal())
      return;
    FusionRemarks remarks(explain);
    SmallVector<BatchNormOp> bns(eval.getBody().front().getOps<BatchNormOp>());
    for (BatchNormOp bn : bns) {
      std::string why = whyNot(bn);
      if (why.empty())
        fuse(bn, remarks);
      else
        remarks.skipped(bn, why);
    }
    remarks.finish(eval);
  }
};

} // namespace
