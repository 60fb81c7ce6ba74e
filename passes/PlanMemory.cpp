// rnc-plan-memory: assigns workspace offsets by liveness (see Passes.td).
#include "passes/Passes.h"

#include "dialect/RnOps.h"
#include "dialect/Storage.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/MathExtras.h"

#include <map>

namespace mlir::rn {
#define GEN_PASS_DEF_PLANMEMORY
#include "passes/Passes.h.inc"
} // namespace mlir::rn

using namespace mlir;
using namespace mlir::rn;

namespace {

constexpr int64_t kAlignFloats = 16; // 64 bytes

/// The largest workspace, offset or size the plan hands out, in floats: its
/// bytes (x4) and any sum of two of them stay inside int64_t, in the plan
/// and in the code generated from it.
constexpr int64_t kMaxFloats = int64_t(1) << 60;

/// Floats a value needs with the batch dim at `maxBatch`, 64-byte aligned;
/// -1 when that exceeds kMaxFloats (checked: large shapes wrap around).
int64_t floatsOf(Value v, int64_t maxBatch) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t n = 1;
  for (auto [i, d] : llvm::enumerate(type.getShape())) {
    int64_t dim = (i == 0 && ShapedType::isDynamic(d)) ? maxBatch : d;
    if (dim < 0 || llvm::MulOverflow(n, dim, n) || n > kMaxFloats)
      return -1;
  }
  return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}

/// Elementwise ops whose kernels may write over an operand.
bool mayWriteInPlace(Operation *op) {
  return isa<ReluOp, AddOp, ReluGradOp>(op);
}

/// A best-fit allocator over [0, peak) with coalescing free blocks. Sizes
/// are at most kMaxFloats; allocate() returns -1 when the peak would exceed
/// it.
class Arena {
public:
  int64_t allocate(int64_t size) {
    auto best = free.end();
    for (auto it = free.begin(); it != free.end(); ++it)
      if (it->second >= size &&
          (best == free.end() || it->second < best->second))
        best = it;
    if (best == free.end()) {
      // Grow: reuse a free block that ends at the top, if any.
      int64_t offset = peak;
      if (!free.empty()) {
        auto last = std::prev(free.end());
        if (last->first + last->second == peak) {
          offset = last->first;
          free.erase(last);
        }
      }
      if (offset > kMaxFloats - size)
        return -1;
      peak = offset + size;
      return offset;
    }
    int64_t offset = best->first, rest = best->second - size;
    free.erase(best);
    if (rest > 0)
      free[offset + size] = rest;
    return offset;
  }

  void release(int64_t offset, int64_t size) {
    auto next = free.lower_bound(offset);
    if (next != free.end() && offset + size == next->first) {
      size += next->second;
      next = free.erase(next);
    }
    if (next != free.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += size;
        return;
      }
    }
    free[offset] = size;
  }

  int64_t peakFloats() const { return peak; }

private:
  std::map<int64_t, int64_t> free; // offset -> size
  int64_t peak = 0;
};

class PlanMemory : public rn::impl::PlanMemoryBase<PlanMemory> {
public:
  using PlanMemoryBase::PlanMemoryBase;

  void runOnOperation() override {
    if (maxBatch <= 0) {
      getOperation().emitError() << "rnc-plan-memory: expected max-batch > 0, "
                                 << "got " << int64_t(maxBatch);
      return signalPassFailure();
    }
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(plan(func)))
        return signalPassFailure();
  }

private:
  LogicalResult plan(func::FuncOp func) {
    auto tooLarge = [&](Operation *op) {
      return op->emitOpError()
             << "rnc-plan-memory: the workspace of this op at max-batch "
             << int64_t(maxBatch) << " exceeds 2^60 floats (a size or offset "
             << "would overflow 64-bit arithmetic); lower --max-batch or the "
             << "input size";
    };
    Block &body = func.getBody().front();
    llvm::DenseMap<Operation *, int64_t> index;
    for (Operation &op : body)
      index[&op] = index.size();

    // Last use of each buffer root (uses through views count).
    llvm::DenseMap<Value, int64_t> lastUse;
    for (Operation &op : body)
      for (Value operand : op.getOperands()) {
        Value root = bufferRoot(operand);
        lastUse[root] = std::max(lastUse.lookup(root), index[&op]);
      }

    Arena arena;
    llvm::DenseMap<Value, int64_t> offset;
    // Buffers to release once the op at the key index has run.
    std::map<int64_t, SmallVector<Value>> dying;
    int64_t unplanned = 0;
    Builder b(func.getContext());
    for (Operation &op : body) {
      int64_t i = index[&op];
      SmallVector<int64_t> offsets;
      bool any = false;
      llvm::DenseSet<Value> reused;
      for (Value r : op.getResults()) {
        if (!needsWorkspace(r)) {
          offsets.push_back(-1);
          continue;
        }
        any = true;
        int64_t size = floatsOf(r, maxBatch);
        if (size < 0 || llvm::AddOverflow(unplanned, size, unplanned) ||
            unplanned > kMaxFloats)
          return tooLarge(&op);
        int64_t at = -1;
        if (mayWriteInPlace(&op))
          for (Value operand : op.getOperands()) {
            Value root = bufferRoot(operand);
            if (offset.count(root) && !reused.contains(root) &&
                lastUse.lookup(root) == i &&
                floatsOf(root, maxBatch) == size) {
              at = offset[root];
              reused.insert(root);
              // The result takes over the operand's buffer.
              llvm::erase(dying[i], root);
              break;
            }
          }
        if (at < 0)
          at = arena.allocate(size);
        if (at < 0)
          return tooLarge(&op);
        offset[r] = at;
        offsets.push_back(at);
        dying[std::max(lastUse.lookup(r), i)].push_back(r);
      }
      if (any)
        op.setAttr("rn.offsets", b.getDenseI64ArrayAttr(offsets));
      // Operands and results whose last use is this op free their buffers
      // for the ops after it.
      for (Value v : dying[i])
        arena.release(offset[v], floatsOf(v, maxBatch));
      dying.erase(i);
    }
    func->setAttr("rn.arena_floats", b.getI64IntegerAttr(arena.peakFloats()));
    func->setAttr("rn.unplanned_floats", b.getI64IntegerAttr(unplanned));
    return success();
  }
};

} // namespace
