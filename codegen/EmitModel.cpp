// The source file of a compiled model, for either target (EmitModel.h): the
// tensor table and model info the C ABI exports, the kernel shapes, the init
// rules, then @train_step and @eval as kernel calls (FunctionEmitter and the
// op-family emitters Emit*.cpp), then the target's ABI glue (Target).
#include "codegen/EmitModel.h"

#include "codegen/FunctionEmitter.h"
#include "codegen/StateLayout.h"
#include "codegen/Target.h"
#include "dialect/FunctionRoles.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

/// The function with `role`, checked to have the argument and result kinds
/// the ABI glue calls it with.
func::FuncOp expectFunction(ModuleOp module, rn::FunctionRole role,
                            unsigned numArgs, unsigned numResults) {
  StringRef name = rn::roleName(role);
  auto func = rn::lookupFunction(module, role);
  if (!func || func.isExternal()) {
    module.emitError() << "codegen: expected a func with rn.role = \""
                       << name << "\" (run the training pipeline first)";
    return nullptr;
  }
  if (func.getNumArguments() != numArgs || func.getNumResults() != numResults) {
    func.emitError() << "codegen: expected the " << name << " function to take "
                     << numArgs << " arguments and return " << numResults
                     << " values, got " << func.getFunctionType();
    return nullptr;
  }
  for (BlockArgument arg : func.getArguments())
    if (auto t = dyn_cast<RankedTensorType>(arg.getType());
        t && t.getRank() > 0 && !ShapedType::isDynamic(t.getDimSize(0))) {
      func.emitError() << "codegen: expected a dynamic batch (the batch "
                          "is a run-time value), got "
                       << t;
      return nullptr;
    }
  return func;
}

const char *kindName(TensorKind k) {
  switch (k) {
  case TensorKind::Param:
    return "RNC_PARAM";
  case TensorKind::Buffer:
    return "RNC_BUFFER";
  case TensorKind::Optimizer:
    return "RNC_OPTIMIZER";
  case TensorKind::Gradient:
    return "RNC_GRADIENT";
  }
  return "RNC_PARAM";
}

/// The init() body: each parameter by its rule (kernels/init.h), keyed by
/// its table index.
std::string initBody(const StateLayout &state) {
  std::string body;
  llvm::raw_string_ostream os(body);
  for (auto [i, t] : llvm::enumerate(state.tensors)) {
    std::string p = llvm::formatv("S + {0}, {1}", t.offset, t.numel).str();
    std::string call;
    if (t.init == "kaiming_normal")
      call = llvm::formatv("init_kaiming_normal_fan_out({0}, {1}, seed, {2})",
                           p, t.fanOut, i);
    else if (t.init == "kaiming_uniform" || t.init == "linear_weight")
      call = llvm::formatv("init_kaiming_uniform_default({0}, {1}, seed, {2})",
                           p, t.fanIn, i);
    else if (t.init == "conv_bias" || t.init == "linear_bias")
      call = llvm::formatv("init_bias_uniform({0}, {1}, seed, {2})", p,
                           t.fanIn, i);
    else if (t.init == "ones")
      call = llvm::formatv("init_ones({0})", p);
    else
      continue; // zeros, gradients: the block is zeroed before init()
    os << "  " << call << "; // " << cppCommentText(t.name) << "\n";
  }
  return body;
}

/// The tensor table, offsets and model info of the C ABI.
void emitAbiTables(const StateLayout &state, const ModelMeta &meta,
                   RankedTensorType input, RankedTensorType logits,
                   llvm::raw_ostream &os) {
  os << "const rnc_tensor_info kTensors[] = {\n";
  for (const StateTensor &t : state.tensors) {
    int64_t dims[4] = {0, 0, 0, 0};
    for (auto [i, d] : llvm::enumerate(t.shape))
      dims[i] = d;
    os << llvm::formatv("    {{{0}, {1}, {2}, {{{3}, {4}, {5}, {6}}, {7}},\n",
                        cppStringLiteral(t.name), kindName(t.kind),
                        t.shape.size(), dims[0], dims[1], dims[2], dims[3],
                        t.numel);
  }
  os << "};\nconst long kOffsets[] = {";
  for (const StateTensor &t : state.tensors)
    os << t.offset << ", ";
  os << "};\n\n";
  os << llvm::formatv(
      "const rnc_model_info kInfo = {{RNC_ABI_VERSION, {0}, {1}, {2}, {3}, "
      "{4}, {5}, {6}, {7}, {8}, {9}};\n\n",
      cppStringLiteral(meta.rncVersion), cppStringLiteral(meta.name),
      cppStringLiteral(meta.specHash), cppStringLiteral(meta.target),
      input.getDimSize(1), input.getDimSize(2), input.getDimSize(3),
      logits.getDimSize(1), meta.maxBatch, state.tensors.size());
}

} // namespace

LogicalResult emitModel(ModuleOp module, const ModelMeta &meta,
                        llvm::raw_ostream &os, ModelStats *stats) {
  const Target *target = Target::get(meta.target);
  if (!target)
    return module.emitError() << "codegen: unknown target '" << meta.target
                              << "' (expected cpu or cuda)";
  func::FuncOp step = expectFunction(module, rn::FunctionRole::TrainStep, 5, 2);
  func::FuncOp eval = expectFunction(module, rn::FunctionRole::Eval, 1, 1);
  if (!step || !eval)
    return failure();
  RankedTensorType input = cast<RankedTensorType>(eval.getArgumentTypes()[0]);
  RankedTensorType logits = cast<RankedTensorType>(eval.getResultTypes()[0]);
  if (input.getRank() != 4)
    return eval.emitError("codegen: expected an NCHW input, got ") << input;
  FailureOr<StateLayout> state = planState(module);
  if (failed(state))
    return failure();

  ShapeTable shapes;
  EmittedModel model;
  FunctionEmitter train(*target, *state, shapes, meta.maxBatch,
                        model.profileNames);
  FunctionEmitter infer(*target, *state, shapes, meta.maxBatch,
                        model.profileNames);
  GradientBuckets buckets;
  if (target->overlapsGradientSum()) {
    buckets = planGradientBuckets(step, *state, meta.bucketFloats);
    train.buckets = &buckets;
  }
  if (failed(train.emit(step, {"x", "labels", "lr", "momentum",
                               "weight_decay"})) ||
      failed(infer.emit(eval, {"x"})))
    return failure();
  model.trainBody = train.body();
  model.evalBody = infer.body();
  model.sgdTable = train.sgdTable;
  model.statChannels = std::max(
      int64_t(1), std::max(train.statChannels, infer.statChannels));
  int64_t workFloats = std::max(train.workFloats(), infer.workFloats());
  if (stats) {
    stats->trainKernels = train.kernelCalls();
    stats->evalKernels = infer.kernelCalls();
    stats->workspaceFloats = workFloats;
    stats->stateFloats = state->totalFloats;
  }

  os << "// Generated by rnc " << cppCommentText(meta.rncVersion)
     << " from model '" << cppCommentText(meta.name) << "' (target "
     << target->name()
     << (target->name() == "cuda" || meta.precision != "fp32"
             ? ", precision " + meta.precision
             : std::string())
     << "). Do not edit.\n"
     << "// Spec hash " << cppCommentText(meta.specHash) << ".\n";
  target->emitPrologue(meta, os);
  os << "// Kernel calls: " << train.kernelCalls()
     << " per training step, " << infer.kernelCalls()
     << " per eval batch.\n";
  os << "// State block: " << state->tensors.size() << " tensors, "
     << state->totalFloats << " floats. Workspace: " << workFloats
     << " floats for batch " << meta.maxBatch << ".\n";
  os << "constexpr long kStateFloats = " << state->totalFloats << ";\n"
     << "constexpr long kWorkFloats = " << workFloats << ";\n\n";
  emitAbiTables(*state, meta, input, logits, os);
  target->emitTables(model, os);
  os << "// Kernel shapes (compile-time constants).\n";
  for (const std::string &def : shapes.definitions())
    os << def << "\n";
  os << "\n";
  model.convShapes = shapes.namesOf("Conv2DShape");
  target->emitFunctions(initBody(*state), model, os);
  return success();
}

} // namespace rnc::codegen
