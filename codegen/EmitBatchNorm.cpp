// Code generation for the unfused batch-norm ops: rn.batch_norm (inference),
// rn.batch_norm_train, rn.batch_norm_running_update, rn.batch_norm_grad,
// rn.batch_norm_relu_grad, rn.batch_norm_grad_from_sums, and
// rn.max_pool2d_bn_relu_grad (cpu only). Kernels: kernels/cpu/batchnorm.h,
// kernels/cpu/pool_bn_grad.h, kernels/cuda/batchnorm.cuh (the same names).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

LogicalResult emit(rn::BatchNormOp b, OpEmitter &e) {
  if (b.getTraining())
    return b.emitOpError("in training mode reached code generation; run "
                         "rnc-build-training-step first");
  e.call(KernelCall("batch_norm")
             .tmpl(e.shapes.batchNorm(tensorType(b.getInput())))
             .arg(e.use(b))
             .arg(e.use(b.getInput()))
             .arg(e.use(b.getScale()))
             .arg(e.use(b.getShift()))
             .arg(e.use(b.getRunningMean()))
             .arg(e.use(b.getRunningVar()))
             .batch()
             .arg(floatLiteral(b.getEpsilon().convertToDouble())));
  return success();
}

/// The SyncBN argument of the BN kernels, where the target has one. The
/// cuda backward's sync copies dgamma and dbeta into g_sum and g_sumsq
/// (kernels/cuda/collectives.cuh): they must hold `channels` floats each.
KernelCall &withSync(KernelCall &c, OpEmitter &e, int64_t channels) {
  std::string sync = e.target.bnSync();
  if (sync.empty())
    return c;
  e.statChannels = std::max(e.statChannels, channels);
  return c.arg(sync);
}

LogicalResult emit(rn::BatchNormTrainOp b, OpEmitter &e) {
  KernelCall c = KernelCall("batch_norm_train")
                     .tmpl(e.shapes.batchNorm(tensorType(b.getInput())))
                     .arg(e.use(b.getResult()))
                     .arg(e.use(b.getMean()))
                     .arg(e.use(b.getInvStd()))
                     .arg("nullptr")
                     .arg("nullptr")
                     .arg(e.use(b.getInput()))
                     .arg(e.use(b.getScale()))
                     .arg(e.use(b.getShift()))
                     .batch()
                     .arg(floatLiteral(b.getEpsilon().convertToDouble()));
  // The sync comes after momentum (unused: no running statistics here) and
  // the epilogue.
  if (!e.target.bnSync().empty())
    c.arg("0.1f").arg("NoEpilogue{}");
  e.call(withSync(c, e, tensorType(b.getInput()).getDimSize(1)));
  return success();
}

LogicalResult emit(rn::BatchNormRunningUpdateOp b, OpEmitter &e) {
  int64_t channels = tensorType(b.getInput()).getDimSize(1);
  e.call(KernelCall("batch_norm_running_update")
             .arg(e.use(b.getRunningMean()))
             .arg(e.use(b.getRunningVar()))
             .arg(e.use(b.getMean()))
             .arg(e.use(b.getInvStd()))
             .arg(std::to_string(channels))
             .arg(e.bnCount(b.getInput(), channels))
             .arg(doubleLiteral(b.getEpsilon().convertToDouble()))
             .arg(floatLiteral(b.getMomentum().convertToDouble())));
  return success();
}

/// The three outputs and the incoming gradient every BN gradient form
/// starts with.
template <class Op>
KernelCall bnGradCall(llvm::StringRef kernel, Op b, OpEmitter &e) {
  return KernelCall(kernel)
      .tmpl(e.shapes.batchNorm(tensorType(b.getInput())))
      .arg(e.use(b.getInputGrad()))
      .arg(e.use(b.getScaleGrad()))
      .arg(e.use(b.getShiftGrad()))
      .arg(e.use(b.getResultGrad()));
}

/// What the forward pass saved: the BN input, its batch statistics, gamma.
template <class Op> KernelCall &savedForward(KernelCall &c, Op b, OpEmitter &e) {
  return c.arg(e.use(b.getInput()))
      .arg(e.use(b.getMean()))
      .arg(e.use(b.getInvStd()))
      .arg(e.use(b.getScale()));
}

LogicalResult emit(rn::BatchNormGradOp b, OpEmitter &e) {
  KernelCall c = bnGradCall("batch_norm_grad", b, e);
  e.call(withSync(savedForward(c, b, e).batch(), e,
                  tensorType(b.getInput()).getDimSize(1)));
  return success();
}

LogicalResult emit(rn::BatchNormReluGradOp b, OpEmitter &e) {
  KernelCall c = bnGradCall("batch_norm_relu_grad", b, e);
  c.arg(e.use(b.getReluResult()));
  e.call(withSync(savedForward(c, b, e).batch(), e,
                  tensorType(b.getInput()).getDimSize(1)));
  return success();
}

/// The pool's window shape first, then the BN's (kernels/cpu/pool_bn_grad.h).
LogicalResult emit(rn::MaxPool2DBatchNormReluGradOp b, OpEmitter &e) {
  if (e.target.name() != "cpu")
    return b.emitOpError("has a cpu kernel only (kernels/cpu/pool_bn_grad.h); "
                         "`rnc compile --target ")
           << e.target.name() << "` does not run rnc-fuse-pool-bn-grad";
  KernelCall c =
      KernelCall("max_pool2d_bn_relu_grad")
          .tmpl(e.shapes.pool(tensorType(b.getReluResult()), b.getKernel(),
                              b.getStride(), b.getPadding(), true))
          .tmpl(e.shapes.batchNorm(tensorType(b.getInput())))
          .arg(e.use(b.getInputGrad()))
          .arg(e.use(b.getScaleGrad()))
          .arg(e.use(b.getShiftGrad()))
          .arg(e.use(b.getResultGrad()))
          .arg(e.use(b.getReluResult()));
  e.call(withSync(savedForward(c, b, e).batch(), e,
                  tensorType(b.getInput()).getDimSize(1)));
  return success();
}

LogicalResult emit(rn::BatchNormGradFromSumsOp b, OpEmitter &e) {
  KernelCall c = bnGradCall("batch_norm_grad_from_sums", b, e);
  e.call(withSync(savedForward(c, b, e)
                      .arg(e.use(b.getGradSum()))
                      .arg(e.use(b.getGradDevSum()))
                      .batch(),
                  e, tensorType(b.getInput()).getDimSize(1)));
  return success();
}

} // namespace

std::optional<LogicalResult> emitBatchNormOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::BatchNormOp, rn::BatchNormTrainOp,
            rn::BatchNormRunningUpdateOp, rn::BatchNormGradOp,
            rn::BatchNormReluGradOp, rn::MaxPool2DBatchNormReluGradOp,
            rn::BatchNormGradFromSumsOp>(
          [&](auto b) { return emit(b, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
