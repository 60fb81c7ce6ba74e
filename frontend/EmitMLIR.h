// Lowers a shape-checked Graph to a module holding `func.func @forward` in
// the `rn` dialect.
#pragma once

#include "frontend/Graph.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace rnc {

struct EmitOptions {
  std::string file;     // spec file, recorded in op locations
  int64_t batch = 0;    // 0: dynamic batch dim (`?`)
  bool bnTraining = false; // emit batch_norm with the `training` unit attr
};

/// The graph must have passed spec::inferShapes. Each op carries the node
/// name as a NameLoc; parameters are `rn.param` ops named like a PyTorch
/// state_dict ("layer1.0.conv1.weight", "bn1.running_mean", "fc.bias").
mlir::OwningOpRef<mlir::ModuleOp> emitModule(mlir::MLIRContext &ctx,
                                             const spec::Graph &graph,
                                             const EmitOptions &options);

} // namespace rnc
