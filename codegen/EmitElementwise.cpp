// Code generation for the element-wise ops: rn.relu, rn.relu_grad, rn.add.
// Kernels: kernels/cpu/elementwise.h, kernels/cuda/elementwise.cuh.
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

LogicalResult emit(rn::ReluOp r, OpEmitter &e) {
  e.call(KernelCall("relu")
             .arg(e.use(r))
             .arg(e.use(r.getInput()))
             .arg(e.count(r)));
  return success();
}

LogicalResult emit(rn::ReluGradOp r, OpEmitter &e) {
  e.call(KernelCall("relu_grad")
             .arg(e.use(r))
             .arg(e.use(r.getResultGrad()))
             .arg(e.use(r.getResult()))
             .arg(e.count(r)));
  return success();
}

LogicalResult emit(rn::AddOp a, OpEmitter &e) {
  e.call(KernelCall("add")
             .arg(e.use(a))
             .arg(e.use(a.getLhs()))
             .arg(e.use(a.getRhs()))
             .arg(e.count(a)));
  return success();
}

} // namespace

std::optional<LogicalResult> emitElementwiseOp(Operation *op, OpEmitter &e) {
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<rn::ReluOp, rn::ReluGradOp, rn::AddOp>(
          [&](auto x) { return emit(x, e); })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace rnc::codegen
