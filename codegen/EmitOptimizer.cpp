// Code generation for rn.sgd_update. Kernels: kernels/cpu/optimizer.h
// (sgd_update, one call per parameter), kernels/cuda/optimizer.cuh
// (sgd_update_all: every parameter in one launch where the step returns);
// on a target with data parallelism, the sum of the gradients over the ranks
// before the first update, or in buckets during the backward pass where the
// target overlaps it (GradientBuckets.h).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

/// The "<param>.grad" state tensor an update consumes.
const StateTensor *gradientOf(rn::SgdUpdateOp u, const OpEmitter &e) {
  llvm::StringRef name = u.getParam().getDefiningOp<rn::ParamOp>().getName();
  return e.state.lookup((name + ".grad").str());
}

/// The gradient is normally written straight into its slot (Storage.h);
/// one that is not is copied there.
void copyIntoSlot(rn::SgdUpdateOp u, OpEmitter &e) {
  const StateTensor *grad = gradientOf(u, e);
  std::string slot = e.stateSlot(grad->name);
  if (e.use(u.getGrad()) != slot)
    e.statement(e.target.copyFloats(slot, e.use(u.getGrad()),
                                    std::to_string(grad->numel)));
}

/// Before the first update of a data-parallel step (Target::sumOverRanks):
/// every gradient into its slot, then one sum over the ranks of the whole
/// gradient region, which StateLayout keeps contiguous at the end of the
/// state block (padding included: zeros on every rank).
void sumGradients(rn::SgdUpdateOp first, OpEmitter &e) {
  int64_t begin = -1;
  for (const StateTensor &t : e.state.tensors)
    if (t.kind == TensorKind::Gradient && (begin < 0 || t.offset < begin))
      begin = t.offset;
  for (Operation *op = first; op; op = op->getNextNode())
    if (auto u = dyn_cast<rn::SgdUpdateOp>(op))
      copyIntoSlot(u, e);
  e.gradientsInSlots = true;
  if (begin >= 0)
    e.statement(e.target.sumOverRanks(begin, e.state.totalFloats - begin));
}

} // namespace

std::optional<LogicalResult> emitOptimizerOp(Operation *op, OpEmitter &e) {
  auto u = dyn_cast<rn::SgdUpdateOp>(op);
  if (!u)
    return std::nullopt;
  llvm::StringRef name = u.getParam().getDefiningOp<rn::ParamOp>().getName();
  auto buffer = u.getMomentumBuffer().getDefiningOp<rn::ParamOp>();
  const StateTensor *grad = gradientOf(u, e);
  std::string slot = e.stateSlot(grad->name);
  if (!e.gradientsInSlots && e.buckets) { // summed during the backward pass
    e.statement(e.target.joinSumsOverRanks());
    e.gradientsInSlots = true;
  }
  if (!e.gradientsInSlots)
    sumGradients(u, e);
  if (e.target.batchesUpdates()) {
    e.sgdTable.push_back(llvm::formatv(
        "{{{0}, {1}, {2}, {3}}", e.state.lookup(name)->offset,
        e.state.lookup(buffer.getName())->offset, grad->offset, grad->numel));
    return success();
  }
  e.call(KernelCall("sgd_update")
             .arg(e.use(u.getParam()))
             .arg(e.use(u.getMomentumBuffer()))
             .arg(slot)
             .arg(std::to_string(grad->numel))
             .arg(e.use(u.getLr()))
             .arg(e.use(u.getMomentum()))
             .arg(e.use(u.getWeightDecay())));
  return success();
}

void emitGradientSumsAfter(Operation *op, OpEmitter &e) {
  if (auto copies = e.buckets->copiesAfter.find(op);
      copies != e.buckets->copiesAfter.end())
    for (rn::SgdUpdateOp u : copies->second)
      copyIntoSlot(u, e);
  for (const GradientBucket &b : e.buckets->buckets)
    if (b.after == op)
      e.statement(e.target.sumOverRanksAsync(b.offset, b.count));
}

void emitBatchedUpdates(OpEmitter &e) {
  if (!e.target.batchesUpdates() || e.sgdTable.empty())
    return;
  e.call(KernelCall("sgd_update_all")
             .tmpl(std::to_string(e.sgdTable.size()))
             .arg("S")
             .arg("kSgdTable")
             .arg("hyper"));
}

} // namespace rnc::codegen
