// Code generation for the dense layer and its views: rn.linear,
// rn.linear_grad_input, rn.linear_grad_weight, rn.flatten, rn.unflatten.
// Kernels: kernels/cpu/linear.h, kernels/cuda/linear.cuh (the same names).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

LogicalResult emit(rn::LinearOp l, OpEmitter &e) {
  e.call(KernelCall("linear")
             .tmpl(e.shapes.linear(tensorType(l.getWeight())))
             .arg(e.use(l))
             .arg(e.use(l.getInput()))
             .arg(e.use(l.getWeight()))
             .arg(e.optional(l.getBias()))
             .batch());
  return success();
}

LogicalResult emit(rn::LinearGradInputOp l, OpEmitter &e) {
  e.call(KernelCall("linear_grad_input")
             .tmpl(e.shapes.linear(tensorType(l.getWeight())))
             .arg(e.use(l))
             .arg(e.use(l.getResultGrad()))
             .arg(e.use(l.getWeight()))
             .batch());
  return success();
}

LogicalResult emit(rn::LinearGradWeightOp l, OpEmitter &e) {
  e.call(KernelCall("linear_grad_weight")
             .tmpl(e.shapes.linear(tensorType(l.getWeightGrad())))
             .arg(e.use(l))
             .arg(e.use(l.getResultGrad()))
             .arg(e.use(l.getInput()))
             .batch());
  return success();
}

/// flatten/unflatten name the same buffer. On a target that stores images
/// NHWC, [N, C, H, W] and [N, C*H*W] agree only where H = W = 1.
LogicalResult emitView(Operation *view, OpEmitter &e) {
  RankedTensorType a = tensorType(view->getOperand(0)),
                   b = tensorType(view->getResult(0));
  RankedTensorType image = a.getRank() == 4 ? a : b;
  if (e.target.nhwcActivations() && image.getRank() == 4 &&
      image.getDimSize(2) * image.getDimSize(3) != 1)
    return view->emitOpError()
           << e.target.name()
           << " codegen: a view between [N, C, H, W] with H*W > 1 and "
              "[N, C*H*W] is not supported (activations are NHWC on this "
              "target); pool to 1x1 first";
  e.alias(view->getResult(0), view->getOperand(0));
  e.comment("(a view of the same buffer)");
  return success();
}

} // namespace

std::optional<LogicalResult> emitLinearOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::LinearOp, rn::LinearGradInputOp, rn::LinearGradWeightOp>(
          [&](auto l) { return emit(l, e); })
      .Case<rn::FlattenOp, rn::UnflattenOp>(
          [&](Operation *view) { return emitView(view, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
