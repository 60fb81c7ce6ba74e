// rnc-fuse-relu-bn-grad: relu_grad -> batch_norm_grad ==>
// rn.batch_norm_relu_grad (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::rn {
#define GEN_PASS_DEF_FUSERELUBNGRAD
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

class FuseReluBnGrad : public rn::impl::FuseReluBnGradBase<FuseReluBnGrad> {
public:
  using FuseReluBnGradBase::FuseReluBnGradBase;

  void runOnOperation() override {
    auto step = getOperation().lookupSymbol<func::FuncOp>("train_step");
    if (!step || step.isExternal())
      return;
    SmallVector<ReluGradOp> relus(step.getBody().front().getOps<ReluGradOp>());
    for (ReluGradOp relu : relus) {
      Value masked = relu.getInputGrad(); // the masked gradient (op result)
      auto bn = masked.hasOneUse()
                    ? dyn_cast<BatchNormGradOp>(*masked.getUsers().begin())
                    : BatchNormGradOp();
      if (!bn || bn.getResultGrad() != masked) {
        if (explain)
          relu.emitRemark() << "not fused: the ReLU's gradient has "
                            << std::distance(masked.use_begin(),
                                             masked.use_end())
                            << " users (a block output fans out to the "
                               "branch and the shortcut)";
        continue;
      }
      OpBuilder b(bn);
      auto fused = b.create<BatchNormReluGradOp>(
          bn.getLoc(), relu.getResultGrad(), relu.getResult(), bn.getInput(),
          bn.getMean(), bn.getInvStd(), bn.getScale());
      if (explain)
        fused.emitRemark() << "fused: relu_grad + batch_norm_grad (the ReLU "
                              "mask applied inside the BN reductions)";
      bn.replaceAllUsesWith(fused.getResults());
      bn.erase();
      relu.erase();
    }
  }
};

} // namespace
