// rnc-autodiff: reverse-mode gradients of @train_step's loss with respect to
// every trained rn.param. The gradient rules live on the ops
// (DifferentiableOpInterface, dialect/RnGradients.cpp); this pass only
// decides which values need gradients, walks the body backwards and sums
// the gradients of values with several users.
#include "dialect/FunctionRoles.h"
#include "passes/Passes.h"

#include "dialect/RnOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::rn {
#define GEN_PASS_DEF_AUTODIFF
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

bool isTrained(ParamOp p) { return !p.getBuffer() && !p.getOptimizer(); }

/// Values that depend on a trained parameter (forward activity analysis).
llvm::DenseSet<Value> activeValues(Block &body) {
  llvm::DenseSet<Value> active;
  for (Operation &op : body) {
    auto param = dyn_cast<ParamOp>(op);
    bool on = param ? isTrained(param)
                    : llvm::any_of(op.getOperands(), [&](Value v) {
                        return active.contains(v);
                      });
    if (on)
      active.insert(op.result_begin(), op.result_end());
  }
  return active;
}

class Autodiff : public rn::impl::AutodiffBase<Autodiff> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = lookupFunction(module, FunctionRole::TrainStep);
    if (!step || step.isExternal()) {
      module.emitError("rnc-autodiff: expected a func with rn.role = "
                       "\"train_step\" and a body (run "
                       "rnc-build-training-step first)");
      return signalPassFailure();
    }
    if (failed(differentiate(step)))
      signalPassFailure();
  }

private:
  LogicalResult differentiate(func::FuncOp step) {
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    if (ret.getNumOperands() == 0)
      return step.emitError("rnc-autodiff: @train_step returns no loss");
    Value loss = ret.getOperand(0);
    auto lossType = dyn_cast<RankedTensorType>(loss.getType());
    if (!lossType || lossType.getRank() != 0 ||
        !lossType.getElementType().isF32())
      return step.emitError("rnc-autodiff: expected the first result of "
                            "@train_step to be the loss, a tensor<f32>, got ")
             << loss.getType();
    for (unsigned i = 0; i < step.getNumResults(); ++i)
      if (step.getResultAttr(i, "rn.grad_of"))
        return step.emitError("rnc-autodiff: @train_step already has "
                              "gradient results");

    // Only this body is differentiated: a parameter used in a called
    // function would silently get no gradient and no update.
    for (Operation &op : body)
      if (auto call = dyn_cast<CallOpInterface>(op)) {
        auto callee = dyn_cast<SymbolRefAttr>(call.getCallableForCallee());
        return op.emitOpError("rnc-autodiff: @train_step calls ")
               << (callee ? "@" + callee.getLeafReference().str()
                          : std::string("a function value"))
               << "; rnc differentiates one function body, so inline the "
                  "call first (rn.param ops it uses would get no gradient "
                  "and never be trained)";
      }

    llvm::DenseSet<Value> active = activeValues(body);
    llvm::DenseMap<Value, Value> grads;
    OpBuilder b(ret);
    auto addGrad = [&](Value v, Value g) {
      Value &slot = grads[v];
      slot = slot ? b.create<AddOp>(g.getLoc(), slot, g).getResult() : g;
    };

    // Reverse walk over the forward ops, building the backward ops in order
    // before the return.
    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);
    for (Operation *op : llvm::reverse(forwardOps)) {
      bool isRoot = llvm::is_contained(op->getResults(), loss);
      SmallVector<Value> resultGrads;
      for (Value r : op->getResults())
        resultGrads.push_back(grads.lookup(r));
      if (!isRoot && llvm::all_of(resultGrads, [](Value g) { return !g; }))
        continue;
      if (isa<ParamOp>(op))
        continue;
      auto rule = dyn_cast<DifferentiableOpInterface>(op);
      if (!rule)
        return op->emitOpError("has no gradient rule, but the loss depends on "
                               "a parameter through it");
      SmallVector<bool> needed;
      for (Value v : op->getOperands())
        needed.push_back(active.contains(v));
      SmallVector<Value> operandGrads;
      if (failed(rule.buildGradients(b, resultGrads, isRoot, needed,
                                     operandGrads)))
        return failure();
      for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads))
        if (g)
          addGrad(operand, g);
    }

    // One gradient per parameter name, in the order the params appear. A
    // trained parameter the loss does not depend on would silently never
    // change.
    llvm::MapVector<StringRef, Value> byName;
    for (ParamOp param : body.getOps<ParamOp>()) {
      Value g = grads.lookup(param.getResult());
      if (!isTrained(param))
        continue;
      if (!g)
        return param.emitOpError("rnc-autodiff: trained parameter '")
               << param.getName()
               << "' gets no gradient: the loss does not depend on it, so "
                  "training would never change it";
      Value &slot = byName[param.getName()];
      slot = slot ? b.create<AddOp>(param.getLoc(), slot, g).getResult() : g;
    }
    // A step that trains nothing is a mistake, not a no-op.
    if (byName.empty())
      return step.emitError(
          "rnc-autodiff: @train_step has no trained rn.param, so the step "
          "would update nothing");
    SmallVector<Value> results(ret.getOperands());
    for (auto [name, g] : byName) {
      unsigned index = step.getNumResults();
      step.insertResult(index, g.getType(),
                        b.getDictionaryAttr(b.getNamedAttr(
                            "rn.grad_of", b.getStringAttr(name))));
      results.push_back(g);
    }
    b.create<func::ReturnOp>(ret.getLoc(), results);
    ret.erase();
    return success();
  }
};

} // namespace
