// Spec -> verified `rn` IR for the rnc subcommands (Lower.h).
#include "Lower.h"

#include "dialect/RnOps.h"
#include "frontend/EmitMLIR.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include <fmt/format.h>

#include <iostream>

namespace rnc {

OneLineDiagnostics::OneLineDiagnostics(mlir::MLIRContext &ctx,
                                       std::string file)
    : handler(&ctx, [file = std::move(file)](mlir::Diagnostic &diag) {
        std::string where;
        if (auto name = llvm::dyn_cast<mlir::NameLoc>(diag.getLocation()))
          where = fmt::format(" node '{}':", name.getName().str());
        std::cerr << rnc::oneLine(
                         fmt::format("{}:{} {}", file, where, diag.str()))
                  << "\n";
        return mlir::success();
      }) {}

mlir::OwningOpRef<mlir::ModuleOp> lower(mlir::MLIRContext &ctx,
                                        const LoadedModel &m, int64_t batch,
                                        bool bnTraining) {
  ctx.loadDialect<mlir::rn::RnDialect, mlir::func::FuncDialect>();
  OneLineDiagnostics diagnostics(ctx, m.file);
  EmitOptions opts;
  opts.file = m.file;
  opts.batch = batch;
  opts.bnTraining = bnTraining;
  auto module = emitModule(ctx, m.graph, opts);
  if (failed(mlir::verify(*module)))
    return nullptr;
  return module;
}

} // namespace rnc
