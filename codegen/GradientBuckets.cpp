// Buckets of the gradient region for a sum over the ranks that overlaps the
// backward pass: GradientBuckets.h.
#include "codegen/GradientBuckets.h"

#include "dialect/Storage.h"

#include <algorithm>

using namespace mlir;

namespace rnc::codegen {

namespace {

/// One gradient of the region: its slot and the op after which it is final.
struct Finished {
  int64_t offset = 0;
  size_t position = 0; // of `op` in the step's body
  Operation *op = nullptr;
};

} // namespace

GradientBuckets planGradientBuckets(func::FuncOp step, const StateLayout &state,
                                    int64_t bucketFloats) {
  GradientBuckets plan;
  Block &body = step.getBody().front();
  llvm::DenseMap<Operation *, size_t> position;
  for (auto [i, op] : llvm::enumerate(body))
    position[&op] = i;

  std::vector<Finished> grads;
  for (auto u : body.getOps<rn::SgdUpdateOp>()) {
    auto param = u.getParam().getDefiningOp<rn::ParamOp>();
    const StateTensor *slot = state.lookup((param.getName() + ".grad").str());
    Operation *def = u.getGrad().getDefiningOp();
    if (!slot || !def)
      continue; // planState and the verifier rule these out
    if (rn::stateGradientOf(u.getGrad()) != param)
      plan.copiesAfter[def].push_back(u);
    grads.push_back({slot->offset, position[def], def});
  }
  if (grads.empty())
    return plan;

  // Index i of the region: gradient i spans [offset_i, offset_{i+1}), the
  // last one up to the end of the state block.
  std::sort(grads.begin(), grads.end(),
            [](const Finished &a, const Finished &b) { return a.offset < b.offset; });
  auto end = [&](size_t i) {
    return i + 1 < grads.size() ? grads[i + 1].offset : state.totalFloats;
  };
  // The order the backward pass finishes them; within one op, the last in
  // the region first (the direction the buckets grow in).
  std::vector<size_t> order(grads.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (grads[a].position != grads[b].position)
      return grads[a].position < grads[b].position;
    return a > b;
  });

  bool open = false;
  size_t lo = 0, hi = 0; // the open bucket: gradients lo..hi
  Operation *after = nullptr;
  auto close = [&] {
    if (open)
      plan.buckets.push_back(
          {grads[lo].offset, end(hi) - grads[lo].offset, after});
    open = false;
  };
  for (size_t i : order) {
    if (open && !(i + 1 == lo || i == hi + 1))
      close();
    if (!open) {
      open = true;
      lo = hi = i;
    } else {
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    }
    after = grads[i].op; // the latest so far (`order` is by position)
    if (end(hi) - grads[lo].offset >= bucketFloats)
      close();
  }
  close();
  return plan;
}

} // namespace rnc::codegen
