// Reverse-mode gradient rules of the forward `rn` ops
// (DifferentiableOpInterface). Each rule only builds ops; the autodiff pass
// (passes/Autodiff.cpp) decides what is needed and sums fan-out gradients.
//
// Rules (dy is the result gradient):
//   conv2d(x, w, b)       dx = conv2d_grad_input(dy, w), dw = conv2d_grad_weight(dy, x),
//                         db = bias_grad(dy)
//   batch_norm_train      dx, dscale, dshift = batch_norm_grad(dy, x, mean, inv_std, scale)
//   relu(x) = y           dx = relu_grad(dy, y)
//   add(a, b)             da = db = dy
//   max_pool2d(x)         dx = max_pool2d_grad(dy, x)
//   avg_pool2d(x)         dx = avg_pool2d_grad(dy)
//   global_avg_pool(x)    dx = global_avg_pool_grad(dy)
//   flatten(x)            dx = unflatten(dy)
//   linear(x, w, b)       dx = linear_grad_input(dy, w), dw = linear_grad_weight(dy, x),
//                         db = bias_grad(dy)
//   softmax_cross_entropy (root only) dlogits = softmax_cross_entropy_grad(logits, labels)
#include "dialect/RnOps.h"

using namespace mlir;
using namespace mlir::rn;

#include "dialect/RnInterfaces.cpp.inc"

namespace {

/// Starts a rule: one null gradient per operand. Returns the gradient of the
/// op's only result (null if nothing needs it); a non-loss op cannot be the
/// root.
FailureOr<Value> beginRule(Operation *op, ArrayRef<Value> resultGrads,
                           bool isRoot, SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(op->getNumOperands(), Value());
  if (isRoot)
    return op->emitOpError("cannot be the root of differentiation (the root "
                           "must be the scalar loss)");
  return resultGrads.empty() ? Value() : resultGrads.front();
}

/// A rule for an op whose only differentiable operand is operand 0:
/// `build(dy)` makes its gradient.
template <typename BuildFn>
LogicalResult unaryRule(Operation *op, ArrayRef<Value> resultGrads,
                        bool isRoot, ArrayRef<bool> needed,
                        SmallVectorImpl<Value> &operandGrads, BuildFn build) {
  FailureOr<Value> dy = beginRule(op, resultGrads, isRoot, operandGrads);
  if (failed(dy) || !*dy)
    return failure(failed(dy));
  if (needed[0])
    operandGrads[0] = build(*dy);
  return success();
}

} // namespace

LogicalResult Conv2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       bool isRoot, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &g) {
  FailureOr<Value> dy = beginRule(*this, rg, isRoot, g);
  if (failed(dy) || !*dy)
    return failure(failed(dy));
  Location loc = getLoc();
  if (needed[0])
    g[0] = b.create<Conv2DGradInputOp>(
        loc, getInput().getType(), *dy, getWeight(), getStrideAttr(),
        getPaddingAttr(), getDilationAttr(), getGroupsAttr());
  if (needed[1])
    g[1] = b.create<Conv2DGradWeightOp>(
        loc, getWeight().getType(), *dy, getInput(), getStrideAttr(),
        getPaddingAttr(), getDilationAttr(), getGroupsAttr());
  if (getBias() && needed[2])
    g[2] = b.create<BiasGradOp>(loc, *dy);
  return success();
}

LogicalResult BatchNormTrainOp::buildGradients(OpBuilder &b,
                                               ArrayRef<Value> rg, bool isRoot,
                                               ArrayRef<bool> needed,
                                               SmallVectorImpl<Value> &g) {
  FailureOr<Value> dy = beginRule(*this, rg, isRoot, g);
  if (failed(dy))
    return failure();
  if (rg[1] || rg[2])
    return emitOpError("has no gradient rule for its mean or inv_std results "
                       "(only the normalized result is differentiable)");
  if (!*dy)
    return success();
  auto grad = b.create<BatchNormGradOp>(getLoc(), *dy, getInput(), getMean(),
                                        getInvStd(), getScale());
  for (unsigned i = 0; i < 3; ++i)
    if (needed[i])
      g[i] = grad->getResult(i);
  return success();
}

LogicalResult ReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     bool isRoot, ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &g) {
  return unaryRule(*this, rg, isRoot, needed, g, [&](Value dy) {
    return b.create<ReluGradOp>(getLoc(), dy, getResult());
  });
}

LogicalResult AddOp::buildGradients(OpBuilder &, ArrayRef<Value> rg,
                                    bool isRoot, ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &g) {
  FailureOr<Value> dy = beginRule(*this, rg, isRoot, g);
  if (failed(dy) || !*dy)
    return failure(failed(dy));
  for (unsigned i = 0; i < 2; ++i)
    if (needed[i])
      g[i] = *dy;
  return success();
}

LogicalResult MaxPool2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          bool isRoot, ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &g) {
  return unaryRule(*this, rg, isRoot, needed, g, [&](Value dy) {
    return b.create<MaxPool2DGradOp>(getLoc(), dy, getInput(), getKernelAttr(),
                                     getStrideAttr(), getPaddingAttr());
  });
}

LogicalResult AvgPool2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          bool isRoot, ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &g) {
  return unaryRule(*this, rg, isRoot, needed, g, [&](Value dy) {
    return b.create<AvgPool2DGradOp>(getLoc(), getInput().getType(), dy,
                                     getKernelAttr(), getStrideAttr(),
                                     getPaddingAttr(),
                                     getCountIncludePadAttr());
  });
}

LogicalResult GlobalAvgPoolOp::buildGradients(OpBuilder &b,
                                              ArrayRef<Value> rg, bool isRoot,
                                              ArrayRef<bool> needed,
                                              SmallVectorImpl<Value> &g) {
  return unaryRule(*this, rg, isRoot, needed, g, [&](Value dy) {
    return b.create<GlobalAvgPoolGradOp>(getLoc(), getInput().getType(), dy);
  });
}

LogicalResult FlattenOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        bool isRoot, ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &g) {
  return unaryRule(*this, rg, isRoot, needed, g, [&](Value dy) {
    return b.create<UnflattenOp>(getLoc(), getInput().getType(), dy);
  });
}

LogicalResult LinearOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       bool isRoot, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &g) {
  FailureOr<Value> dy = beginRule(*this, rg, isRoot, g);
  if (failed(dy) || !*dy)
    return failure(failed(dy));
  Location loc = getLoc();
  if (needed[0])
    g[0] = b.create<LinearGradInputOp>(loc, *dy, getWeight());
  if (needed[1])
    g[1] = b.create<LinearGradWeightOp>(loc, *dy, getInput());
  if (getBias() && needed[2])
    g[2] = b.create<BiasGradOp>(loc, *dy);
  return success();
}

LogicalResult SoftmaxCrossEntropyOp::buildGradients(
    OpBuilder &b, ArrayRef<Value> rg, bool isRoot, ArrayRef<bool> needed,
    SmallVectorImpl<Value> &g) {
  g.assign(getNumOperands(), Value());
  if (!isRoot)
    return emitOpError("must be the root of differentiation: its gradient "
                       "rule assumes d(loss) = 1");
  if (needed[0])
    g[0] = b.create<SoftmaxCrossEntropyGradOp>(getLoc(), getLogits(),
                                               getLabels());
  return success();
}
