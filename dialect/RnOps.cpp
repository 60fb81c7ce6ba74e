// Type inference and verifiers of the `rn` ops.
//
// The checks are split in two. `inferReturnTypes` checks everything the
// result type depends on (ranks, static dims, attribute sizes and ranges,
// non-empty outputs). It runs when an op is parsed or built and again when it
// is verified, before `verify()`; it must take any operand types and
// attributes without crashing and reports through the location. `verify()`
// then checks the rest: channel counts, bias shapes, epsilon, names.
#include "dialect/RnOps.h"
#include "dialect/RnOpChecks.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::rn;
using namespace mlir::rn::checks;

namespace {

/// Infers the result of a 2-D pooling op; max and avg pooling share their
/// window attributes.
template <typename OpT>
LogicalResult inferPool2D(MLIRContext *ctx, std::optional<Location> loc,
                          typename OpT::Adaptor adaptor,
                          SmallVectorImpl<Type> &types) {
  OpErrors err(loc, OpT::getOperationName());
  FailureOr<typename OpT::Adaptor> full =
      completeAdaptor<OpT>(ctx, err, adaptor);
  if (failed(full))
    return failure();
  FailureOr<RankedTensorType> input = checkActivation(
      err, "input", full->getInput().getType(), {4}, "4 [N, C, H, W]");
  if (failed(input))
    return failure();
  if (!full->getKernelAttr())
    return err("expected a kernel attribute [kh, kw]");

  ArrayRef<int64_t> kernel = full->getKernel();
  if (failed(checkPair(err, "kernel", kernel, 1, "[kh, kw]")))
    return failure();
  // PyTorch: the stride defaults to the kernel.
  ArrayRef<int64_t> stride = full->getStride().value_or(kernel);
  ArrayRef<int64_t> padding = full->getPadding();
  if (failed(checkPair(err, "stride", stride, 1, "[sh, sw]")) ||
      failed(checkPair(err, "padding", padding, 0, "[ph, pw]")))
    return failure();
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2)
    return err("expected padding ", fmt(padding),
               " to be at most half the kernel ", fmt(kernel),
               " (pad <= kernel / 2, as in PyTorch)");

  ArrayRef<int64_t> in = input->getShape();
  FailureOr<int64_t> height =
      slidingOutputSize(err, "height", in[2], padding[0], kernel[0],
                        /*dilation=*/1, stride[0], "kernel height");
  if (failed(height))
    return failure();
  FailureOr<int64_t> width =
      slidingOutputSize(err, "width", in[3], padding[1], kernel[1],
                        /*dilation=*/1, stride[1], "kernel width");
  if (failed(width))
    return failure();
  types.push_back(RankedTensorType::get({in[0], in[1], *height, *width},
                                        input->getElementType()));
  return success();
}

/// The `init` values rn.param accepts.
constexpr StringLiteral kParamInits[] = {
    "kaiming_normal", "kaiming_uniform", "zeros",    "ones",
    "linear_weight",  "linear_bias",     "conv_bias"};

} // namespace

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

ArrayRef<StringLiteral> ParamOp::getInitKinds() { return kParamInits; }

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("expected a non-empty name");
  if (!llvm::is_contained(kParamInits, getInit())) {
    InFlightDiagnostic diag = emitOpError("expected init to be one of ");
    llvm::interleaveComma(kParamInits, diag);
    return diag << "; got \"" << getInit() << "\"";
  }
  RankedTensorType type = getResult().getType();
  if (!type.hasStaticShape())
    return emitOpError() << "expected a static result shape, got " << type;
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *ctx,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<Adaptor> full = completeAdaptor<Conv2DOp>(ctx, err, adaptor);
  if (failed(full))
    return failure();
  FailureOr<RankedTensorType> input = checkActivation(
      err, "input", full->getInput().getType(), {4}, "4 [N, C, H, W]");
  if (failed(input))
    return failure();
  FailureOr<RankedTensorType> weight = checkParam(
      err, "weight", full->getWeight().getType(), 4, "4 [O, C/groups, KH, KW]");
  if (failed(weight))
    return failure();

  ArrayRef<int64_t> stride = full->getStride();
  ArrayRef<int64_t> padding = full->getPadding();
  ArrayRef<int64_t> dilation = full->getDilation();
  if (failed(checkPair(err, "stride", stride, 1, "[sh, sw]")) ||
      failed(checkPair(err, "padding", padding, 0, "[ph, pw]")) ||
      failed(checkPair(err, "dilation", dilation, 1, "[dh, dw]")))
    return failure();

  ArrayRef<int64_t> in = input->getShape();
  ArrayRef<int64_t> w = weight->getShape();
  FailureOr<int64_t> height =
      slidingOutputSize(err, "height", in[2], padding[0], w[2], dilation[0],
                        stride[0], "dilated kernel height");
  if (failed(height))
    return failure();
  FailureOr<int64_t> width =
      slidingOutputSize(err, "width", in[3], padding[1], w[3], dilation[1],
                        stride[1], "dilated kernel width");
  if (failed(width))
    return failure();
  types.push_back(RankedTensorType::get({in[0], w[0], *height, *width},
                                        input->getElementType()));
  return success();
}

LogicalResult Conv2DOp::verify() {
  int64_t groups = getGroupsAttr().getInt();
  if (groups < 1)
    return emitOpError() << "expected groups to be >= 1, got " << groups;
  int64_t channels = getInput().getType().getDimSize(1);
  ArrayRef<int64_t> w = getWeight().getType().getShape();
  if (channels % groups != 0)
    return emitOpError() << "expected input channels " << channels
                         << " to be divisible by groups " << groups;
  if (w[0] % groups != 0)
    return emitOpError() << "expected output channels (weight dim 0) " << w[0]
                         << " to be divisible by groups " << groups;
  if (w[1] != channels / groups)
    return emitOpError() << "expected weight dim 1 (input channels per group) "
                         << "to be " << channels / groups << " (input channels "
                         << channels << " / groups " << groups << "), got "
                         << w[1];
  if (Value bias = getBias())
    return verifyVector(*this, "bias", bias, w[0], "output channels");
  return success();
}

//===----------------------------------------------------------------------===//
// BatchNormOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferSameAsActivation(OpErrors(loc, getOperationName()), "input",
                               adaptor.getInput().getType(), {2, 4},
                               "2 [N, C] or 4 [N, C, H, W]", types);
}

LogicalResult BatchNormOp::verify() {
  double epsilon = getEpsilonAttr().getValueAsDouble();
  if (!(epsilon > 0))
    return emitOpError() << "expected epsilon to be > 0, got " << epsilon;
  double momentum = getMomentumAttr().getValueAsDouble();
  if (!(momentum >= 0 && momentum <= 1))
    return emitOpError() << "expected momentum to be in [0, 1], got "
                         << momentum;
  int64_t channels = getInput().getType().getDimSize(1);
  std::pair<StringRef, Value> vectors[] = {{"scale", getScale()},
                                           {"shift", getShift()},
                                           {"running_mean", getRunningMean()},
                                           {"running_var", getRunningVar()}};
  for (auto [what, value] : vectors)
    if (failed(verifyVector(*this, what, value, channels, "input channels")))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// ReluOp
//===----------------------------------------------------------------------===//

LogicalResult ReluOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  return inferSameAsActivation(OpErrors(loc, getOperationName()), "input",
                               adaptor.getInput().getType(), {}, "", types);
}

//===----------------------------------------------------------------------===//
// AddOp
//===----------------------------------------------------------------------===//

LogicalResult AddOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> lhs =
      checkActivation(err, "lhs", adaptor.getLhs().getType(), {}, "");
  if (failed(lhs))
    return failure();
  FailureOr<RankedTensorType> rhs =
      checkActivation(err, "rhs", adaptor.getRhs().getType(), {}, "");
  if (failed(rhs))
    return failure();
  ArrayRef<int64_t> l = lhs->getShape();
  ArrayRef<int64_t> r = rhs->getShape();
  // A dynamic batch is compatible with any batch.
  bool sameShape = l.size() == r.size() &&
                   (l.empty() || l[0] == r[0] || ShapedType::isDynamic(l[0]) ||
                    ShapedType::isDynamic(r[0])) &&
                   (l.empty() || l.drop_front() == r.drop_front());
  if (!sameShape)
    return err("expected operands of the same shape, got ", *lhs, " and ",
               *rhs);
  types.push_back(*lhs);
  return success();
}

//===----------------------------------------------------------------------===//
// MaxPool2DOp, AvgPool2DOp
//===----------------------------------------------------------------------===//

LogicalResult MaxPool2DOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferPool2D<MaxPool2DOp>(ctx, loc, adaptor, types);
}

LogicalResult AvgPool2DOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferPool2D<AvgPool2DOp>(ctx, loc, adaptor, types);
}

//===----------------------------------------------------------------------===//
// GlobalAvgPoolOp
//===----------------------------------------------------------------------===//

LogicalResult GlobalAvgPoolOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> input = checkActivation(
      err, "input", adaptor.getInput().getType(), {4}, "4 [N, C, H, W]");
  if (failed(input))
    return failure();
  ArrayRef<int64_t> in = input->getShape();
  types.push_back(
      RankedTensorType::get({in[0], in[1], 1, 1}, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// FlattenOp
//===----------------------------------------------------------------------===//

LogicalResult FlattenOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> input =
      checkActivation(err, "input", adaptor.getInput().getType(), {}, "");
  if (failed(input))
    return failure();
  if (input->getRank() < 2)
    return err("expected input of rank >= 2 [N, d1, ..., dk], got ", *input);
  ArrayRef<int64_t> in = input->getShape();
  std::optional<int64_t> features = 1;
  for (int64_t size : in.drop_front())
    if (features)
      features = llvm::checkedMul(*features, size);
  if (!features)
    return err("expected the flattened size of ", *input, " to fit in 64 bits");
  types.push_back(
      RankedTensorType::get({in[0], *features}, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> input = checkActivation(
      err, "input", adaptor.getInput().getType(), {2}, "2 [N, K]");
  if (failed(input))
    return failure();
  FailureOr<RankedTensorType> weight =
      checkParam(err, "weight", adaptor.getWeight().getType(), 2, "2 [M, K]");
  if (failed(weight))
    return failure();
  types.push_back(RankedTensorType::get(
      {input->getDimSize(0), weight->getDimSize(0)}, input->getElementType()));
  return success();
}

LogicalResult LinearOp::verify() {
  int64_t features = getInput().getType().getDimSize(1);
  ArrayRef<int64_t> w = getWeight().getType().getShape();
  if (w[1] != features)
    return emitOpError() << "expected weight dim 1 (input features) to be "
                         << features << " (input dim 1), got " << w[1];
  if (Value bias = getBias())
    return verifyVector(*this, "bias", bias, w[0], "output features");
  return success();
}

//===----------------------------------------------------------------------===//
// SoftmaxCrossEntropyOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxCrossEntropyOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  OpErrors err(loc, getOperationName());
  FailureOr<RankedTensorType> logits = checkActivation(
      err, "logits", adaptor.getLogits().getType(), {2}, "2 [N, K]");
  if (failed(logits))
    return failure();
  types.push_back(RankedTensorType::get({}, logits->getElementType()));
  return success();
}

LogicalResult SoftmaxCrossEntropyOp::verify() {
  int64_t batch = getLogits().getType().getDimSize(0);
  RankedTensorType labels = getLabels().getType();
  int64_t labelBatch = labels.getDimSize(0);
  if (!ShapedType::isDynamic(batch) && !ShapedType::isDynamic(labelBatch) &&
      batch != labelBatch)
    return emitOpError() << "expected labels of shape [N] with N the logits "
                         << "batch " << batch << ", got " << labels;
  return success();
}

#define GET_OP_CLASSES
#include "dialect/RnOps.cpp.inc"
