// One function of the final IR as kernel calls (FunctionEmitter.h).
//
// Parameters, buffers, optimizer state and the gradients the updates consume
// live in the state block S (StateLayout); every other tensor lives in the
// workspace W at the offset rnc-plan-memory chose (without a plan, each
// value gets its own buffer), sized for the compiled maximum batch;
// flatten/unflatten are views.
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"
#include "dialect/Storage.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

constexpr int64_t kAlignFloats = 16;

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Elements per sample of an activation (all dims after the batch).
int64_t perSample(RankedTensorType t) {
  int64_t p = 1;
  for (int64_t d : t.getShape().drop_front())
    p *= d;
  return p;
}

/// "rn.conv2d (layer1.0.conv1)": the op and, from its NameLoc, the layer.
std::string opLabel(Operation *op) {
  std::string label = op->getName().getStringRef().str();
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    label += " (" + cppCommentText(name.getName().strref()) + ")";
  return label;
}

} // namespace

std::string OpEmitter::count(Value v) const {
  RankedTensorType t = tensorType(v);
  if (t.getRank() > 0 && ShapedType::isDynamic(t.getDimSize(0)))
    return llvm::formatv("long(N) * {0}", perSample(t)).str();
  return std::to_string(t.getNumElements());
}

std::string OpEmitter::bnCount(Value v, int64_t channels) const {
  std::string n = count(v);
  const std::string plain = "long(N)";
  if (n.compare(0, plain.size(), plain) == 0)
    n = "long(" + target.bnBatch() + ")" + n.substr(plain.size());
  return n + " / " + std::to_string(channels);
}

std::string OpEmitter::stateSlot(llvm::StringRef name) const {
  return llvm::formatv("(S + {0})", state.lookup(name)->offset).str();
}

void OpEmitter::statement(const std::string &text) {
  os << "  " << text << ";\n";
  ++kernels;
}

void FunctionEmitter::allocate(Value v) {
  if (planned) {
    auto offsets =
        v.getDefiningOp()->getAttrOfType<DenseI64ArrayAttr>("rn.offsets");
    int64_t at = offsets ? offsets[cast<OpResult>(v).getResultNumber()] : -1;
    ptrs[v] = llvm::formatv("(W + {0})", at).str();
    return;
  }
  RankedTensorType t = tensorType(v);
  int64_t floats = 1;
  if (t.getRank() > 0)
    floats = ShapedType::isDynamic(t.getDimSize(0)) ? maxBatch * perSample(t)
                                                    : t.getNumElements();
  ptrs[v] = llvm::formatv("(W + {0})", next).str();
  next += (floats + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}

LogicalResult FunctionEmitter::emit(func::FuncOp func,
                                    ArrayRef<std::string> argNames) {
  Block &body = func.getBody().front();
  for (auto [arg, name] : llvm::zip(body.getArguments(), argNames))
    ptrs[arg] = name;
  if (auto arena = func->getAttrOfType<IntegerAttr>("rn.arena_floats")) {
    planned = true;
    next = arena.getInt();
  }
  // Parameters live in the state block; a gradient an update consumes is
  // written straight into its "<param>.grad" slot (dialect/Storage.h).
  for (Operation &op : body) {
    if (auto p = dyn_cast<rn::ParamOp>(op))
      ptrs[p] = stateSlot(p.getName());
    for (Value r : op.getResults())
      if (rn::ParamOp p = rn::stateGradientOf(r))
        ptrs[r] = stateSlot((p.getName() + ".grad").str());
  }
  for (Operation &op : body) {
    if (failed(emitOp(&op)))
      return failure();
    if (buckets)
      emitGradientSumsAfter(&op, *this);
  }
  return success();
}

LogicalResult FunctionEmitter::emitReturn(func::ReturnOp ret) {
  if (ret.getNumOperands() == 2) { // @train_step: loss, correct
    emitBatchedUpdates(*this);
    for (const std::string &s : target.trainReturn(use(ret.getOperand(0)),
                                                   use(ret.getOperand(1))))
      result(s);
    return success();
  }
  for (const std::string &s :
       target.evalReturn(use(ret.getOperand(0)), count(ret.getOperand(0))))
    result(s);
  return success();
}

LogicalResult FunctionEmitter::emitOp(Operation *op) {
  if (isa<rn::ParamOp>(op))
    return success();
  std::string label = opLabel(op);
  comment(label);
  os.flush();
  size_t start = code.size();
  int kernelsBefore = kernels;
  if (auto ret = dyn_cast<func::ReturnOp>(op)) {
    if (failed(emitReturn(ret)))
      return failure();
    // Where the return launches work (cuda: the batched SGD update, the
    // copies of the results), it is timed and checked as one op too.
    if (target.batchesUpdates())
      profile(start, label + (ret.getNumOperands() == 2 ? " (SGD update, loss)"
                                                        : " (logits)"));
    return success();
  }
  for (Value r : op->getResults())
    if (!ptrs.count(r) && !isa<rn::FlattenOp, rn::UnflattenOp>(op))
      allocate(r);

  std::optional<LogicalResult> done;
  for (auto family : {emitConvOp, emitBatchNormOp, emitPoolOp, emitLinearOp,
                      emitLossOp, emitElementwiseOp, emitOptimizerOp})
    if ((done = family(op, *this)))
      break;
  if (!done)
    return op->emitOpError() << "has no code generation rule (target "
                             << target.name() << ")";
  if (failed(*done))
    return failure();
  if (kernels != kernelsBefore)
    profile(start, label);
  return success();
}

// The op's calls, timed as one entry of the profile (RNC_PROFILE=1; cuda:
// also checked one by one with RNC_CUDA_SYNC=1, kernels/cuda/debug.cuh).
void FunctionEmitter::profile(size_t start, const std::string &label) {
  os.flush();
  if (!target.profilesOps() || code.size() == start)
    return;
  std::string calls = code.substr(start);
  code.resize(start);
  os << "  { OpTimer timer_(" << profileNames.size() + 1 << ");\n" << calls
     << "  }\n";
  profileNames.push_back(label);
}

} // namespace rnc::codegen
