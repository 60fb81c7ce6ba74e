// Code generation for rn.sgd_update. Kernels: kernels/cpu/optimizer.h
// (sgd_update, one call per parameter), kernels/cuda/optimizer.cuh
// (sgd_update_all: every parameter in one launch where the step returns).
#include "codegen/FunctionEmitter.h"

#include "dialect/RnOps.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace rnc::codegen {

std::optional<LogicalResult> emitOptimizerOp(Operation *op, OpEmitter &e) {
  auto u = dyn_cast<rn::SgdUpdateOp>(op);
  if (!u)
    return std::nullopt;
  llvm::StringRef name = u.getParam().getDefiningOp<rn::ParamOp>().getName();
  auto buffer = u.getMomentumBuffer().getDefiningOp<rn::ParamOp>();
  const StateTensor *grad = e.state.lookup((name + ".grad").str());
  std::string slot = e.stateSlot(grad->name);
  // The gradient is normally written straight into its slot (Storage.h).
  if (e.use(u.getGrad()) != slot)
    e.statement(e.target.copyFloats(slot, e.use(u.getGrad()),
                                    std::to_string(grad->numel)));
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
