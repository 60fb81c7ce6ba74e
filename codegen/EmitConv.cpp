// Code generation for the convolution ops: rn.conv2d, rn.conv2d_grad_input
// (+ _fanin, _bn_reduce), rn.conv2d_grad_weight, rn.bias_grad, and the fused
// rn.conv2d_bn_train / rn.conv2d_bn_eval. Kernels: kernels/cpu/conv.h,
// kernels/cuda/conv.cuh (the same names on both targets).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// "C, H*W" of an NCHW type: the layout arguments of per-element epilogues.
std::string channelsAndPlane(RankedTensorType t) {
  return llvm::formatv("{0}, {1}", t.getDimSize(1),
                       t.getDimSize(2) * t.getDimSize(3));
}

/// The data-gradient epilogue of the fan-in and BN-reduce forms: the
/// residual gradient added, then the ReLU mask.
EpilogueChain gradInputEpilogue(OpEmitter &e, Value addend, Value reluResult,
                                RankedTensorType layout) {
  EpilogueChain chain;
  std::string cp = channelsAndPlane(layout);
  if (addend)
    chain.then("ResidualAddEpilogue<float>", e.use(addend) + ", " + cp);
  if (reluResult)
    chain.then("ReluMaskEpilogue<float>", e.use(reluResult) + ", " + cp);
  return chain;
}

/// The shape constant of a conv-like op.
template <class Op>
std::string convShape(OpEmitter &e, Op op, Value in, Value weight) {
  return e.shapes.conv(tensorType(in), tensorType(weight), op.getStride(),
                       op.getPadding(), op.getDilation(), op.getGroups());
}

LogicalResult emit(rn::Conv2DOp c, OpEmitter &e) {
  e.call(KernelCall("conv2d")
             .tmpl(convShape(e, c, c.getInput(), c.getWeight()))
             .arg(e.use(c))
             .arg(e.use(c.getInput()))
             .arg(e.use(c.getWeight()))
             .arg(e.optional(c.getBias()))
             .batch());
  return success();
}

LogicalResult emit(rn::Conv2DGradInputOp c, OpEmitter &e) {
  e.call(KernelCall("conv2d_grad_input")
             .tmpl(convShape(e, c, c.getInputGrad(), c.getWeight()))
             .arg(e.use(c))
             .arg(e.use(c.getResultGrad()))
             .arg(e.use(c.getWeight()))
             .batch());
  return success();
}

LogicalResult emit(rn::Conv2DGradInputFanInOp c, OpEmitter &e) {
  e.call(KernelCall("conv2d_grad_input")
             .tmpl(convShape(e, c, c.getInputGrad(), c.getWeight()))
             .arg(e.use(c))
             .arg(e.use(c.getResultGrad()))
             .arg(e.use(c.getWeight()))
             .batch()
             .epilogue(gradInputEpilogue(e, c.getAddend(), c.getReluResult(),
                                         tensorType(c.getInputGrad()))));
  return success();
}

LogicalResult emit(rn::Conv2DGradInputBnReduceOp c, OpEmitter &e) {
  e.call(KernelCall("conv2d_grad_input_bn_reduce")
             .tmpl(convShape(e, c, c.getInputGrad(), c.getWeight()))
             .arg(e.use(c.getInputGrad()))
             .arg(e.use(c.getGradSum()))
             .arg(e.use(c.getGradDevSum()))
             .arg(e.use(c.getResultGrad()))
             .arg(e.use(c.getWeight()))
             .arg(e.use(c.getBnInput()))
             .arg(e.use(c.getBnMean()))
             .batch()
             .epilogue(gradInputEpilogue(e, c.getAddend(), c.getReluResult(),
                                         tensorType(c.getInputGrad()))));
  return success();
}

LogicalResult emit(rn::Conv2DGradWeightOp c, OpEmitter &e) {
  e.call(KernelCall("conv2d_grad_weight")
             .tmpl(convShape(e, c, c.getInput(), c.getWeightGrad()))
             .arg(e.use(c))
             .arg(e.use(c.getResultGrad()))
             .arg(e.use(c.getInput()))
             .batch());
  return success();
}

LogicalResult emit(rn::BiasGradOp b, OpEmitter &e) {
  RankedTensorType dy = tensorType(b.getResultGrad());
  bool linear = dy.getRank() == 2;
  e.call(KernelCall(linear ? "linear_bias_grad" : "conv2d_bias_grad")
             .tmpl(linear ? e.shapes.linearBias(dy.getDimSize(1))
                          : e.shapes.convBias(dy))
             .arg(e.use(b))
             .arg(e.use(b.getResultGrad()))
             .batch());
  return success();
}

/// Training: the conv writes its output and the per-channel sums of the BN
/// statistics; the BN finalizes mean and 1/std from the sums, then applies
/// the affine map with the residual add and ReLU as epilogue.
LogicalResult emit(rn::Conv2DBatchNormTrainOp f, OpEmitter &e) {
  RankedTensorType out = tensorType(f.getConvResult());
  int64_t channels = out.getDimSize(1);
  e.statChannels = std::max(e.statChannels, channels);
  e.call(KernelCall("conv2d_bn_train_stats")
             .tmpl(convShape(e, f, f.getInput(), f.getWeight()))
             .arg(e.use(f.getConvResult()))
             .arg("g_sum")
             .arg("g_sumsq")
             .arg(e.use(f.getInput()))
             .arg(e.use(f.getWeight()))
             .arg(e.optional(f.getBias()))
             .batch());
  // SyncBN: the sums over the ranks (Target::bnSumOverRanks).
  for (const char *sums : {"g_sum", "g_sumsq"})
    e.statement(e.target.bnSumOverRanks(sums, channels));
  e.call(KernelCall("batch_norm_stats_from_sums")
             .arg(e.use(f.getMean()))
             .arg(e.use(f.getInvStd()))
             .arg("static_cast<float *>(nullptr)")
             .arg("g_sum")
             .arg("g_sumsq")
             .arg(std::to_string(channels))
             .arg(e.bnCount(f.getConvResult(), channels))
             .arg(floatLiteral(f.getEpsilon().convertToDouble())));
  EpilogueChain epi;
  if (Value r = f.getResidual())
    epi.then("ResidualAddEpilogue<float>",
             e.use(r) + ", " + channelsAndPlane(out));
  if (f.getRelu())
    epi.then("ReluEpilogue");
  e.call(KernelCall("batch_norm_apply")
             .tmpl(e.shapes.batchNorm(out))
             .arg(e.use(f.getResult()))
             .arg(e.use(f.getConvResult()))
             .arg(e.use(f.getMean()))
             .arg(e.use(f.getInvStd()))
             .arg(e.use(f.getScale()))
             .arg(e.use(f.getShift()))
             .batch()
             .epilogue(epi));
  return success();
}

/// Inference: the BN (from its running statistics) folds into a per-channel
/// affine map applied in the conv's epilogue, with the add and ReLU.
LogicalResult emit(rn::Conv2DBatchNormEvalOp f, OpEmitter &e) {
  RankedTensorType out = tensorType(f.getResult());
  int64_t channels = out.getDimSize(1);
  e.statChannels = std::max(e.statChannels, channels);
  e.call(KernelCall("conv2d_bn_eval_fold")
             .arg("g_sum")
             .arg("g_sumsq")
             .arg(e.use(f.getScale()))
             .arg(e.use(f.getShift()))
             .arg(e.use(f.getRunningMean()))
             .arg(e.use(f.getRunningVar()))
             .arg(f.getBias() ? e.use(f.getBias())
                              : "static_cast<const float *>(nullptr)")
             .arg(std::to_string(channels))
             .arg(doubleLiteral(f.getEpsilon().convertToDouble())));
  EpilogueChain epi;
  epi.then("ChannelAffineEpilogue<float>", "g_sum, g_sumsq");
  if (Value r = f.getResidual())
    epi.then("ResidualAddEpilogue<float>",
             e.use(r) + ", " + channelsAndPlane(out));
  if (f.getRelu())
    epi.then("ReluEpilogue");
  e.call(KernelCall("conv2d")
             .tmpl(convShape(e, f, f.getInput(), f.getWeight()))
             .arg(e.use(f))
             .arg(e.use(f.getInput()))
             .arg(e.use(f.getWeight()))
             .arg("nullptr")
             .batch()
             .epilogue(epi));
  return success();
}

} // namespace

std::optional<LogicalResult> emitConvOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::Conv2DOp, rn::Conv2DGradInputOp, rn::Conv2DGradInputFanInOp,
            rn::Conv2DGradInputBnReduceOp, rn::Conv2DGradWeightOp,
            rn::BiasGradOp, rn::Conv2DBatchNormTrainOp,
            rn::Conv2DBatchNormEvalOp>([&](auto c) { return emit(c, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
