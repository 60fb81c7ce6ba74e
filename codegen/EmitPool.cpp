// Code generation for the pooling ops: rn.max_pool2d, rn.avg_pool2d,
// rn.global_avg_pool and their _grad ops. Kernels: kernels/cpu/pool.h,
// kernels/cuda/pool.cuh (the same names).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Max pooling never counts padding (it is -inf).
template <class Op> std::string maxShape(OpEmitter &e, Op p) {
  return e.shapes.pool(tensorType(p.getInput()), p.getKernel(), p.getStride(),
                       p.getPadding(), true);
}

template <class Op> std::string avgShape(OpEmitter &e, Op p, Value in) {
  return e.shapes.pool(tensorType(in), p.getKernel(), p.getStride(),
                       p.getPadding(), p.getCountIncludePad());
}

/// Template arguments of the global pool: channels, H*W.
KernelCall globalPool(llvm::StringRef kernel, Value image) {
  RankedTensorType t = tensorType(image);
  return KernelCall(kernel)
      .tmpl(std::to_string(t.getDimSize(1)))
      .tmpl(std::to_string(t.getDimSize(2) * t.getDimSize(3)));
}

LogicalResult emit(rn::MaxPool2DOp p, OpEmitter &e) {
  e.call(KernelCall("max_pool2d")
             .tmpl(maxShape(e, p))
             .arg(e.use(p))
             .arg(e.use(p.getInput()))
             .batch());
  return success();
}

LogicalResult emit(rn::MaxPool2DGradOp p, OpEmitter &e) {
  e.call(KernelCall("max_pool2d_grad")
             .tmpl(maxShape(e, p))
             .arg(e.use(p))
             .arg(e.use(p.getResultGrad()))
             .arg(e.use(p.getInput()))
             .batch());
  return success();
}

LogicalResult emit(rn::AvgPool2DOp p, OpEmitter &e) {
  e.call(KernelCall("avg_pool2d")
             .tmpl(avgShape(e, p, p.getInput()))
             .arg(e.use(p))
             .arg(e.use(p.getInput()))
             .batch());
  return success();
}

LogicalResult emit(rn::AvgPool2DGradOp p, OpEmitter &e) {
  e.call(KernelCall("avg_pool2d_grad")
             .tmpl(avgShape(e, p, p.getInputGrad()))
             .arg(e.use(p))
             .arg(e.use(p.getResultGrad()))
             .batch());
  return success();
}

LogicalResult emit(rn::GlobalAvgPoolOp p, OpEmitter &e) {
  e.call(globalPool("global_avg_pool", p.getInput())
             .arg(e.use(p))
             .arg(e.use(p.getInput()))
             .batch());
  return success();
}

LogicalResult emit(rn::GlobalAvgPoolGradOp p, OpEmitter &e) {
  e.call(globalPool("global_avg_pool_grad", p.getInputGrad())
             .arg(e.use(p))
             .arg(e.use(p.getResultGrad()))
             .batch());
  return success();
}

} // namespace

std::optional<LogicalResult> emitPoolOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::MaxPool2DOp, rn::MaxPool2DGradOp, rn::AvgPool2DOp,
            rn::AvgPool2DGradOp, rn::GlobalAvgPoolOp, rn::GlobalAvgPoolGradOp>(
          [&](auto p) { return emit(p, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
