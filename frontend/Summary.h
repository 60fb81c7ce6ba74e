// `rnc summary`: a torchinfo-style per-layer table computed from `rn` IR.
#pragma once

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rnc {

struct SummaryRow {
  std::string name;           // node name (from the op's NameLoc) or group
  std::string op;             // "conv2d", ... ; "" for a group of ops
  std::vector<int64_t> shape; // output shape, batch first
  int64_t params = 0;         // trainable parameter elements
  int64_t buffers = 0;        // non-trainable buffer elements
  int64_t macs = 0;           // multiply-accumulates (conv and linear)
  int64_t activationElems = 0;// elements of the op's output
};

struct Summary {
  std::string model;
  std::vector<int64_t> inputShape; // batch first
  std::vector<SummaryRow> rows;
  int64_t totalParams = 0, totalBuffers = 0, totalMacs = 0,
          totalActivationElems = 0;
};

/// Summarizes `func.func @forward` of `module` for batch size `batch`.
/// `depth` > 0 merges rows whose names share their first `depth` dot-separated
/// components (depth 1: conv1, bn1, ..., layer1, ..., fc), like torchinfo's
/// depth; 0 lists every op. Returns false (after emitting an error on the
/// module) if there is no forward function.
bool summarize(mlir::ModuleOp module, int64_t batch, int depth, Summary &out);

/// The table and totals as text.
std::string formatSummary(const Summary &summary);

} // namespace rnc
