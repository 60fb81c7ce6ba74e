// Code generation for the loss ops: rn.softmax_cross_entropy,
// rn.softmax_cross_entropy_grad, rn.count_correct. Kernels:
// kernels/cpu/loss.h, kernels/cuda/loss.cuh (the same names).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

/// The kernel with the class count as its template argument.
KernelCall lossKernel(llvm::StringRef kernel, Value logits) {
  return KernelCall(kernel).tmpl(
      std::to_string(cast<RankedTensorType>(logits.getType()).getDimSize(1)));
}

LogicalResult emit(rn::SoftmaxCrossEntropyOp s, OpEmitter &e) {
  e.call(lossKernel("softmax_cross_entropy", s.getLogits())
             .arg(e.use(s))
             .arg("nullptr") // the count is rn.count_correct's
             .arg(e.use(s.getLogits()))
             .arg(e.use(s.getLabels()))
             .batch());
  return success();
}

LogicalResult emit(rn::CountCorrectOp s, OpEmitter &e) {
  // The count is an int32 in a float-typed workspace slot.
  e.call(lossKernel("count_correct", s.getLogits())
             .arg("reinterpret_cast<int *>(" + e.use(s) + ")")
             .arg(e.use(s.getLogits()))
             .arg(e.use(s.getLabels()))
             .batch());
  return success();
}

// Divided by the global batch of a data-parallel step (Target::globalBatch;
// NG == N with one process).
LogicalResult emit(rn::SoftmaxCrossEntropyGradOp s, OpEmitter &e) {
  KernelCall call = lossKernel("softmax_cross_entropy_grad", s.getLogits())
                        .arg(e.use(s))
                        .arg(e.use(s.getLogits()))
                        .arg(e.use(s.getLabels()))
                        .batch()
                        .arg("1.0f")
                        .arg(e.target.globalBatch());
  e.call(call);
  return success();
}

} // namespace

std::optional<LogicalResult> emitLossOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::SoftmaxCrossEntropyOp, rn::CountCorrectOp,
            rn::SoftmaxCrossEntropyGradOp>([&](auto s) { return emit(s, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
