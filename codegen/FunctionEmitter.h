// Emission of one function (@train_step or @eval) of the final `rn` IR: a
// pointer for every value (state block S, planned workspace W, or a view),
// then each op as kernel calls, through the op-family emitters (Emit*.cpp).
#ifndef RNC_CODEGEN_FUNCTIONEMITTER_H
#define RNC_CODEGEN_FUNCTIONEMITTER_H

#include "codegen/GradientBuckets.h"
#include "codegen/KernelCall.h"
#include "codegen/ShapeTable.h"
#include "codegen/StateLayout.h"
#include "codegen/Target.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>
#include <vector>

namespace rnc::codegen {

/// What an op-family emitter sees of the function being emitted: the C++
/// spelling of values, the shape table, the target, and the output.
class OpEmitter {
public:
  OpEmitter(const Target &target, const StateLayout &state, ShapeTable &shapes)
      : target(target), state(state), shapes(shapes) {}

  const Target &target;
  const StateLayout &state;
  ShapeTable &shapes;

  /// The pointer expression of `v` ("(W + 128)", "(S + 64)", "x").
  std::string use(mlir::Value v) const { return ptrs.lookup(v); }
  /// use(v), or "nullptr" for an absent optional operand.
  std::string optional(mlir::Value v) const {
    return v ? use(v) : std::string("nullptr");
  }
  /// Elements of an activation or state tensor, as C++ ("long(N) * 512").
  std::string count(mlir::Value v) const;
  /// Values per channel of the BN statistics of `v` with `channels`
  /// channels, as C++ ("long(N) * 512 / 8"; the SyncBN batch where the
  /// target has one, Target::bnBatch).
  std::string bnCount(mlir::Value v, int64_t channels) const;
  /// "(S + offset)" of the state tensor `name`.
  std::string stateSlot(llvm::StringRef name) const;
  /// Makes `view` another name for the buffer of `of`.
  void alias(mlir::Value view, mlir::Value of) { ptrs[view] = use(of); }

  /// Emits one kernel call (or copy) statement.
  void call(const KernelCall &c) { statement(c.str()); }
  void statement(const std::string &code);
  /// A statement that hands a result to the glue (not counted as a kernel).
  void result(const std::string &code) { os << "  " << code << ";\n"; }
  void comment(llvm::StringRef text) { os << "  // " << text << "\n"; }

  /// Widest channel count of a fused BN statistic (g_sum/g_sumsq).
  int64_t statChannels = 0;
  /// Every update's gradient is in its state slot (copied there before the
  /// sum over the ranks; EmitOptimizer.cpp).
  bool gradientsInSlots = false;
  /// The buckets of a gradient sum that overlaps the backward pass
  /// (@train_step on a target that overlaps it; else null).
  const GradientBuckets *buckets = nullptr;
  /// Batched SGD updates, {param, momentum, grad, numel} (target-dependent).
  std::vector<std::string> sgdTable;

protected:
  llvm::DenseMap<mlir::Value, std::string> ptrs;
  std::string code;
  llvm::raw_string_ostream os{code};
  int kernels = 0;
};

/// The op families; each returns std::nullopt for an op that is not its own.
/// Files: EmitConv.cpp (conv2d*, bias_grad), EmitBatchNorm.cpp (batch_norm*),
/// EmitPool.cpp (*pool*), EmitLinear.cpp (linear*, flatten/unflatten views),
/// EmitLoss.cpp (softmax_cross_entropy*, count_correct), EmitElementwise.cpp
/// (relu*, add), EmitOptimizer.cpp (sgd_update).
std::optional<mlir::LogicalResult> emitConvOp(mlir::Operation *op,
                                              OpEmitter &e);
std::optional<mlir::LogicalResult> emitBatchNormOp(mlir::Operation *op,
                                                   OpEmitter &e);
std::optional<mlir::LogicalResult> emitPoolOp(mlir::Operation *op,
                                              OpEmitter &e);
std::optional<mlir::LogicalResult> emitLinearOp(mlir::Operation *op,
                                                OpEmitter &e);
std::optional<mlir::LogicalResult> emitLossOp(mlir::Operation *op,
                                              OpEmitter &e);
std::optional<mlir::LogicalResult> emitElementwiseOp(mlir::Operation *op,
                                                     OpEmitter &e);
std::optional<mlir::LogicalResult> emitOptimizerOp(mlir::Operation *op,
                                                   OpEmitter &e);
/// The batched updates a target runs where @train_step returns.
void emitBatchedUpdates(OpEmitter &e);
/// After `op`'s calls: the gradient copies and bucket sums e.buckets puts
/// there (EmitOptimizer.cpp).
void emitGradientSumsAfter(mlir::Operation *op, OpEmitter &e);

/// Emits the body of one function.
class FunctionEmitter : public OpEmitter {
public:
  FunctionEmitter(const Target &target, const StateLayout &state,
                  ShapeTable &shapes, int64_t maxBatch,
                  std::vector<std::string> &profileNames)
      : OpEmitter(target, state, shapes), maxBatch(maxBatch),
        profileNames(profileNames) {}

  /// Emits `func`, naming its arguments `argNames` in C++.
  mlir::LogicalResult emit(mlir::func::FuncOp func,
                           llvm::ArrayRef<std::string> argNames);
  std::string body() {
    os.flush();
    return code;
  }
  /// Workspace floats used (the plan's arena, or one buffer per value).
  int64_t workFloats() const { return next; }
  /// Kernel calls per run of the function (results handed back excluded).
  int kernelCalls() const { return kernels; }

private:
  mlir::LogicalResult emitOp(mlir::Operation *op);
  mlir::LogicalResult emitReturn(mlir::func::ReturnOp ret);
  /// Wraps the code emitted since `start` in an OpTimer scope named `label`
  /// (when the target profiles ops).
  void profile(size_t start, const std::string &label);
  /// Gives `v` its workspace buffer.
  void allocate(mlir::Value v);

  int64_t maxBatch;
  /// Shared by the functions of a model (one OpTimer index space).
  std::vector<std::string> &profileNames;
  int64_t next = 0;     // workspace floats used so far (or planned)
  bool planned = false; // offsets come from rnc-plan-memory
};

} // namespace rnc::codegen

#endif // RNC_CODEGEN_FUNCTIONEMITTER_H
