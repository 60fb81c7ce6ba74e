// rnc-specialize-batch: makes the dynamic batch dim of a function static.
#include "passes/Passes.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::rn {
#define GEN_PASS_DEF_SPECIALIZEBATCH
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;

namespace {

/// Whether the pass gives `type` a batch: a rank >= 1 tensor of f32 or i32.
bool hasBatchDim(RankedTensorType type) {
  Type element = type.getElementType();
  return type.getRank() >= 1 &&
         (element.isF32() || element.isSignlessInteger(32));
}

class SpecializeBatch : public rn::impl::SpecializeBatchBase<SpecializeBatch> {
public:
  using SpecializeBatchBase::SpecializeBatchBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    int64_t size = batch;
    if (size <= 0) {
      func.emitError() << "rnc-specialize-batch: expected batch > 0, got "
                       << size;
      return signalPassFailure();
    }
    if (func.isExternal())
      return;
    if (failed(specializeArguments(func, size)) ||
        failed(inferResultTypes(func)))
      return signalPassFailure();
    updateFunctionType(func);
  }

private:
  /// Sets the batch dim of every argument that has one to `size`; fails on
  /// an argument with a different static batch.
  static LogicalResult specializeArguments(func::FuncOp func, int64_t size) {
    for (BlockArgument arg : func.getArguments()) {
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (!type || !hasBatchDim(type))
        continue;
      int64_t current = type.getDimSize(0);
      if (current == size)
        continue;
      if (!ShapedType::isDynamic(current))
        return emitError(arg.getLoc())
               << "argument #" << arg.getArgNumber() << " of @"
               << func.getSymName() << " (" << type << ") has the static batch "
               << current << ", expected " << size << " or a dynamic batch";
      SmallVector<int64_t> shape(type.getShape());
      shape[0] = size;
      arg.setType(type.clone(shape));
    }
    return success();
  }

  /// Infers the result types of every op again, in order, from the new
  /// operand types. Ops without InferTypeOpInterface keep their types.
  static LogicalResult inferResultTypes(func::FuncOp func) {
    WalkResult result = func.getBody().walk([](Operation *op) {
      auto inferable = dyn_cast<InferTypeOpInterface>(op);
      if (!inferable)
        return WalkResult::advance();
      SmallVector<Type> types;
      if (failed(inferable.inferReturnTypes(
              op->getContext(), op->getLoc(), op->getOperands(),
              op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
              op->getRegions(), types)))
        return WalkResult::interrupt();
      for (auto [value, type] : llvm::zip_equal(op->getResults(), types))
        value.setType(type);
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  /// Sets the function type from the entry block's argument types and the
  /// operand types of the first `func.return`.
  static void updateFunctionType(func::FuncOp func) {
    TypeRange results = func.getResultTypes();
    SmallVector<Type> returned;
    func.walk([&](func::ReturnOp ret) {
      returned.assign(ret.getOperandTypes().begin(),
                      ret.getOperandTypes().end());
      return WalkResult::interrupt();
    });
    if (returned.size() == results.size())
      results = returned;
    func.setFunctionType(FunctionType::get(
        func.getContext(), func.front().getArgumentTypes(), results));
  }
};

} // namespace
