// Type inference and verifiers of the training ops (RnTrainOps.td). The
// gradient ops with a spelled-out result type are checked by running the
// forward shape rule on that type and comparing with the result gradient.
#include "dialect/RnOpChecks.h"
#include "dialect/RnOps.h"

using namespace mlir;
using namespace mlir::rn;
using namespace mlir::rn::checks;

namespace {

/// Batch dims are compatible if equal or either is dynamic.
bool sameBatch(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

/// True if `a` and `b` have the same rank and dims, the batch compared
/// loosely.
bool sameActivationShape(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  return a.size() == b.size() && (a.empty() || sameBatch(a[0], b[0])) &&
         (a.empty() || a.drop_front() == b.drop_front());
}

/// Floor-mode sliding-window output size; 0 if the window does not fit.
int64_t windowOut(int64_t size, int64_t pad, int64_t kernel, int64_t dilation,
                  int64_t stride) {
  int64_t span = dilation * (kernel - 1) + 1;
  if (size + 2 * pad < span || stride < 1)
    return 0;
  return (size + 2 * pad - span) / stride + 1;
}

/// The [N, O, OH, OW] a forward conv of `in` with `w` produces.
SmallVector<int64_t> convResultShape(ArrayRef<int64_t> in, ArrayRef<int64_t> w,
                                     ArrayRef<int64_t> stride,
                                     ArrayRef<int64_t> pad,
                                     ArrayRef<int64_t> dil) {
  return {in[0], w[0], windowOut(in[2], pad[0], w[2], dil[0], stride[0]),
          windowOut(in[3], pad[1], w[3], dil[1], stride[1])};
}

/// The [N, C, OH, OW] a pool over `in` produces.
SmallVector<int64_t> poolResultShape(ArrayRef<int64_t> in,
                                     ArrayRef<int64_t> kernel,
                                     std::optional<ArrayRef<int64_t>> stride,
                                     ArrayRef<int64_t> pad) {
  ArrayRef<int64_t> s = stride.value_or(kernel);
  if (kernel.size() != 2 || s.size() != 2 || pad.size() != 2)
    return {};
  return {in[0], in[1], windowOut(in[2], pad[0], kernel[0], 1, s[0]),
          windowOut(in[3], pad[1], kernel[1], 1, s[1])};
}

/// Checks that the forward rule applied to the spelled-out input type gives
/// the result gradient's shape.
LogicalResult checkForwardShape(Operation *op, ArrayRef<int64_t> expected,
                                Type resultGrad, StringRef what) {
  auto dy = cast<RankedTensorType>(resultGrad);
  if (!sameActivationShape(expected, dy.getShape()))
    return op->emitOpError()
           << "expected the result gradient " << dy << " to have the shape "
           << fmt(expected) << " that the forward op gives for " << what;
  return success();
}

/// Checks the saved statistics and scale of a BN gradient or update.
LogicalResult verifyChannelVectors(Operation *op, int64_t channels,
                                   ArrayRef<std::pair<StringRef, Value>> vs) {
  for (auto [what, value] : vs)
    if (failed(verifyVector(op, what, value, channels, "input channels")))
      return failure();
  return success();
}

/// Requires `value` to be produced by an rn.param; `kind` names what the
/// param must be ("buffer", "optimizer" or "" for a trained parameter).
LogicalResult verifyStateOperand(Operation *op, StringRef what, Value value,
                                 StringRef kind) {
  auto param = value.getDefiningOp<ParamOp>();
  if (!param)
    return op->emitOpError() << "expected " << what
                             << " to be an rn.param (state the update writes)";
  bool ok = kind == "buffer"      ? param.getBuffer()
            : kind == "optimizer" ? param.getOptimizer()
                                  : !param.getBuffer() && !param.getOptimizer();
  if (!ok)
    return op->emitOpError()
           << "expected " << what << " \"" << param.getName() << "\" to be "
           << (kind.empty() ? StringRef("a trained parameter") : kind)
           << " param";
  return success();
}

/// The checks the fused conv + BN ops share: the conv shape rule on `out`,
/// the residual's shape, epsilon, and the per-channel vectors.
template <typename FusedOp>
LogicalResult verifyFusedConv(FusedOp op, RankedTensorType out,
                              SmallVector<std::pair<StringRef, Value>> vectors) {
  RankedTensorType in = op.getInput().getType(), w = op.getWeight().getType();
  if (in.getDimSize(1) != w.getDimSize(1) * op.getGroups())
    return op.emitOpError() << "expected input channels " << in.getDimSize(1)
                            << " to be weight dim 1 x groups ("
                            << w.getDimSize(1) * op.getGroups() << ")";
  if (failed(checkForwardShape(op,
                               convResultShape(in.getShape(), w.getShape(),
                                               op.getStride(), op.getPadding(),
                                               op.getDilation()),
                               out, "the input and weight types")))
    return failure();
  if (Value r = op.getResidual();
      r && !sameActivationShape(cast<RankedTensorType>(r.getType()).getShape(),
                                out.getShape()))
    return op.emitOpError() << "expected residual of the output shape, got "
                            << r.getType();
  if (!(op.getEpsilonAttr().getValueAsDouble() > 0))
    return op.emitOpError("expected epsilon to be > 0");
  if (Value b = op.getBias())
    vectors.push_back({"bias", b});
  return verifyChannelVectors(op, out.getDimSize(1), vectors);
}

} // namespace

//===----------------------------------------------------------------------===//
// BatchNormTrainOp, BatchNormRunningUpdateOp, CountCorrectOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormTrainOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> input =
      checkActivation(err, "input", adaptor.getInput().getType(), {2, 4},
                      "2 [N, C] or 4 [N, C, H, W]");
  if (failed(input))
    return failure();
  auto stats =
      RankedTensorType::get({input->getDimSize(1)}, input->getElementType());
  types.append({*input, stats, stats});
  return success();
}

LogicalResult BatchNormTrainOp::verify() {
  double epsilon = getEpsilonAttr().getValueAsDouble();
  if (!(epsilon > 0))
    return emitOpError() << "expected epsilon to be > 0, got " << epsilon;
  return verifyChannelVectors(*this, getInput().getType().getDimSize(1),
                              {{"scale", getScale()}, {"shift", getShift()}});
}

LogicalResult BatchNormRunningUpdateOp::verify() {
  double momentum = getMomentumAttr().getValueAsDouble();
  if (!(momentum >= 0 && momentum <= 1))
    return emitOpError() << "expected momentum to be in [0, 1], got "
                         << momentum;
  if (!(getEpsilonAttr().getValueAsDouble() > 0))
    return emitOpError() << "expected epsilon to be > 0";
  if (failed(verifyStateOperand(*this, "running_mean", getRunningMean(),
                                "buffer")) ||
      failed(verifyStateOperand(*this, "running_var", getRunningVar(),
                                "buffer")))
    return failure();
  return verifyChannelVectors(*this, getInput().getType().getDimSize(1),
                              {{"running_mean", getRunningMean()},
                               {"running_var", getRunningVar()},
                               {"mean", getMean()},
                               {"inv_std", getInvStd()}});
}

LogicalResult CountCorrectOp::inferReturnTypes(MLIRContext *ctx,
                                               std::optional<Location> loc,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  if (failed(checkActivation(err, "logits", adaptor.getLogits().getType(), {2},
                             "2 [N, K]")))
    return failure();
  types.push_back(RankedTensorType::get({}, IntegerType::get(ctx, 32)));
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient ops
//===----------------------------------------------------------------------===//

/// Result types of a BN gradient op: the input's type (rank in `ranks`) and
/// two [C] vectors; `same`, the operand named `what`, has the input's shape.
LogicalResult inferBnGradTypes(const OpErrors &err, Type inputType,
                               ArrayRef<int64_t> ranks, StringRef layout,
                               Type same, StringRef what,
                               SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      checkActivation(err, "input", inputType, ranks, layout);
  if (failed(input))
    return failure();
  auto t = cast<RankedTensorType>(same);
  if (!sameActivationShape(t.getShape(), input->getShape()))
    return err("expected ", what, " ", t, " to match the input ", *input);
  auto vec =
      RankedTensorType::get({input->getDimSize(1)}, input->getElementType());
  types.append({*input, vec, vec});
  return success();
}

template <typename OpT>
LogicalResult inferBatchNormGradTypes(std::optional<Location> loc,
                                      typename OpT::Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  return inferBnGradTypes(OpErrors(loc, OpT::getOperationName()),
                          adaptor.getInput().getType(), {2, 4},
                          "2 [N, C] or 4 [N, C, H, W]",
                          adaptor.getResultGrad().getType(), "result_grad",
                          types);
}

LogicalResult BatchNormGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferBatchNormGradTypes<BatchNormGradOp>(loc, adaptor, types);
}

LogicalResult BatchNormReluGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferBatchNormGradTypes<BatchNormReluGradOp>(loc, adaptor, types);
}

LogicalResult MaxPool2DBatchNormReluGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  // relu_result is the pool's input: the BN's tensor.
  return inferBnGradTypes(OpErrors(loc, getOperationName()),
                          adaptor.getInput().getType(), {4}, "4 [N, C, H, W]",
                          adaptor.getReluResult().getType(), "relu_result",
                          types);
}

LogicalResult MaxPool2DBatchNormReluGradOp::verify() {
  if (failed(checkForwardShape(
          *this,
          poolResultShape(getReluResult().getType().getShape(), getKernel(),
                          getStride(), getPadding()),
          getResultGrad().getType(), "the relu_result type (the pool's input)")))
    return failure();
  return verifyChannelVectors(*this, getInput().getType().getDimSize(1),
                              {{"mean", getMean()},
                               {"inv_std", getInvStd()},
                               {"scale", getScale()}});
}

LogicalResult BatchNormGradFromSumsOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferBatchNormGradTypes<BatchNormGradFromSumsOp>(loc, adaptor, types);
}

LogicalResult BatchNormGradFromSumsOp::verify() {
  return verifyChannelVectors(*this, getInput().getType().getDimSize(1),
                              {{"mean", getMean()},
                               {"inv_std", getInvStd()},
                               {"scale", getScale()},
                               {"grad_sum", getGradSum()},
                               {"grad_dev_sum", getGradDevSum()}});
}

namespace {
// Conv2DGradInputOp and its fused form: the spelled-out input type must give
// result_grad's shape under the forward rule.
template <class GradInputOp> LogicalResult verifyGradInput(GradInputOp op) {
  ArrayRef<int64_t> w = op.getWeight().getType().getShape();
  ArrayRef<int64_t> in = op.getInputGrad().getType().getShape();
  if (in[1] != w[1] * op.getGroups())
    return op.emitOpError() << "expected input channels " << in[1]
                            << " to be weight dim 1 x groups ("
                            << w[1] * op.getGroups() << ")";
  return checkForwardShape(
      op,
      convResultShape(in, w, op.getStride(), op.getPadding(),
                      op.getDilation()),
      op.getResultGrad().getType(), "the input type");
}
} // namespace

LogicalResult Conv2DGradInputOp::verify() { return verifyGradInput(*this); }

LogicalResult Conv2DGradInputFanInOp::verify() {
  ArrayRef<int64_t> in = getInputGrad().getType().getShape();
  for (auto [name, v] : {std::pair<StringRef, Value>{"addend", getAddend()},
                         {"relu_result", getReluResult()}})
    if (v && !sameActivationShape(
                 cast<RankedTensorType>(v.getType()).getShape(), in))
      return emitOpError() << "expected " << name
                           << " of the input gradient's shape, got "
                           << v.getType();
  return verifyGradInput(*this);
}

LogicalResult Conv2DGradInputBnReduceOp::verify() {
  RankedTensorType in = getInputGrad().getType();
  for (auto [name, v] : {std::pair<StringRef, Value>{"addend", getAddend()},
                         {"relu_result", getReluResult()},
                         {"bn_input", getBnInput()}})
    if (v && !sameActivationShape(
                 cast<RankedTensorType>(v.getType()).getShape(),
                 in.getShape()))
      return emitOpError() << "expected " << name
                           << " of the input gradient's shape, got "
                           << v.getType();
  if (failed(verifyGradInput(*this)))
    return failure();
  return verifyChannelVectors(*this, in.getDimSize(1),
                              {{"bn_mean", getBnMean()},
                               {"grad_sum", getGradSum()},
                               {"grad_dev_sum", getGradDevSum()}});
}

LogicalResult Conv2DGradWeightOp::verify() {
  ArrayRef<int64_t> w = getWeightGrad().getType().getShape();
  ArrayRef<int64_t> in = getInput().getType().getShape();
  if (!getWeightGrad().getType().hasStaticShape())
    return emitOpError("expected a static weight gradient type");
  if (in[1] != w[1] * getGroups())
    return emitOpError() << "expected input channels " << in[1]
                         << " to be weight dim 1 x groups ("
                         << w[1] * getGroups() << ")";
  return checkForwardShape(
      *this,
      convResultShape(in, w, getStride(), getPadding(), getDilation()),
      getResultGrad().getType(), "the input and weight types");
}

LogicalResult BiasGradOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> dy =
      checkActivation(err, "result_grad", adaptor.getResultGrad().getType(),
                      {2, 4}, "2 [N, C] or 4 [N, C, H, W]");
  if (failed(dy))
    return failure();
  types.push_back(
      RankedTensorType::get({dy->getDimSize(1)}, dy->getElementType()));
  return success();
}

LogicalResult ReluGradOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> dy = checkActivation(
      err, "result_grad", adaptor.getResultGrad().getType(), {}, "");
  if (failed(dy))
    return failure();
  auto y = cast<RankedTensorType>(adaptor.getResult().getType());
  if (!sameActivationShape(dy->getShape(), y.getShape()))
    return err("expected result_grad ", *dy, " to match the result ", y);
  types.push_back(*dy);
  return success();
}

LogicalResult MaxPool2DGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferSameAsActivation(OpErrors(loc, getOperationName()), "input",
                               adaptor.getInput().getType(), {4},
                               "4 [N, C, H, W]", types);
}

LogicalResult MaxPool2DGradOp::verify() {
  return checkForwardShape(
      *this,
      poolResultShape(getInput().getType().getShape(), getKernel(),
                      getStride(), getPadding()),
      getResultGrad().getType(), "the input type");
}

LogicalResult AvgPool2DGradOp::verify() {
  return checkForwardShape(
      *this,
      poolResultShape(getInputGrad().getType().getShape(), getKernel(),
                      getStride(), getPadding()),
      getResultGrad().getType(), "the input type");
}

LogicalResult GlobalAvgPoolGradOp::verify() {
  ArrayRef<int64_t> in = getInputGrad().getType().getShape();
  return checkForwardShape(*this, {in[0], in[1], 1, 1},
                           getResultGrad().getType(), "the input type");
}

LogicalResult UnflattenOp::verify() {
  RankedTensorType result = getResult().getType();
  if (result.getRank() < 2 ||
      llvm::any_of(result.getShape().drop_front(), ShapedType::isDynamic))
    return emitOpError() << "expected a result of rank >= 2 with static dims "
                            "after the batch, got "
                         << result;
  int64_t features = 1;
  for (int64_t d : result.getShape().drop_front())
    features *= d;
  return checkForwardShape(*this, {result.getDimSize(0), features},
                           getInput().getType(), "the result type");
}

LogicalResult LinearGradInputOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> dy = checkActivation(
      err, "result_grad", adaptor.getResultGrad().getType(), {2}, "2 [N, M]");
  FailureOr<RankedTensorType> w =
      checkParam(err, "weight", adaptor.getWeight().getType(), 2, "2 [M, K]");
  if (failed(dy) || failed(w))
    return failure();
  if (dy->getDimSize(1) != w->getDimSize(0))
    return err("expected result_grad dim 1 to be weight dim 0 (",
               w->getDimSize(0), "), got ", *dy);
  types.push_back(RankedTensorType::get(
      {dy->getDimSize(0), w->getDimSize(1)}, dy->getElementType()));
  return success();
}

LogicalResult LinearGradWeightOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> dy = checkActivation(
      err, "result_grad", adaptor.getResultGrad().getType(), {2}, "2 [N, M]");
  FailureOr<RankedTensorType> x = checkActivation(
      err, "input", adaptor.getInput().getType(), {2}, "2 [N, K]");
  if (failed(dy) || failed(x))
    return failure();
  if (!sameBatch(dy->getDimSize(0), x->getDimSize(0)))
    return err("expected result_grad and input with the same batch, got ",
               *dy, " and ", *x);
  types.push_back(RankedTensorType::get(
      {dy->getDimSize(1), x->getDimSize(1)}, dy->getElementType()));
  return success();
}

LogicalResult SoftmaxCrossEntropyGradOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  return inferSameAsActivation(OpErrors(loc, getOperationName()), "logits",
                               adaptor.getLogits().getType(), {2}, "2 [N, K]",
                               types);
}

//===----------------------------------------------------------------------===//
// SgdUpdateOp
//===----------------------------------------------------------------------===//

LogicalResult SgdUpdateOp::verify() {
  if (failed(verifyStateOperand(*this, "param", getParam(), "")) ||
      failed(verifyStateOperand(*this, "momentum_buffer", getMomentumBuffer(),
                                "optimizer")))
    return failure();
  Type type = getParam().getType();
  if (getMomentumBuffer().getType() != type || getGrad().getType() != type)
    return emitOpError() << "expected param, momentum_buffer and grad of the "
                            "same type, got "
                         << type << ", " << getMomentumBuffer().getType()
                         << " and " << getGrad().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2DBatchNormTrainOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DBatchNormTrainOp::verify() {
  RankedTensorType conv = getConvResult().getType();
  if (getResult().getType() != conv)
    return emitOpError() << "expected result of the conv_result type " << conv;
  return verifyFusedConv(*this, conv,
                         {{"scale", getScale()},
                          {"shift", getShift()},
                          {"mean", getMean()},
                          {"inv_std", getInvStd()}});
}

LogicalResult Conv2DBatchNormEvalOp::verify() {
  return verifyFusedConv(*this, getResult().getType(),
                         {{"scale", getScale()},
                          {"shift", getShift()},
                          {"running_mean", getRunningMean()},
                          {"running_var", getRunningVar()}});
}
