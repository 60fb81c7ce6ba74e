// Spec -> verified `rn` IR, with MLIR diagnostics printed as one line each.
#pragma once

#include "ModelInput.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace rnc {

/// While alive, prints every diagnostic of `ctx` to stderr as one line
/// `<file>: node '<name>': <message>` (the node from the op's NameLoc).
class OneLineDiagnostics {
public:
  OneLineDiagnostics(mlir::MLIRContext &ctx, std::string file);

private:
  mlir::ScopedDiagnosticHandler handler;
};

/// Lowers a loaded model to verified `rn` IR (func @forward); nullptr after
/// printing one-line errors. `batch` 0 keeps the batch dynamic.
mlir::OwningOpRef<mlir::ModuleOp> lower(mlir::MLIRContext &ctx,
                                        const LoadedModel &m, int64_t batch,
                                        bool bnTraining);

} // namespace rnc
