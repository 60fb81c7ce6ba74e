// rnc: compiles residual-network specs. Subcommands print every stage:
//   expand     family form -> explicit graph form (JSON)
//   emit-mlir  spec -> `rn` dialect IR
//   summary    per-layer table: output shapes, parameters, MACs
//   compile    spec -> training IR -> C++ -> model.so
#include "Compile.h"
#include "Lower.h"
#include "ModelInput.h"

#include "dialect/RnOps.h"
#include "frontend/EmitMLIR.h"
#include "frontend/Spec.h"
#include "frontend/Summary.h"
#include "runtime/OutputFile.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

namespace {

struct CommonOptions {
  std::string model;
  std::string input;
  std::string output;
};

void addModelOptions(CLI::App *cmd, CommonOptions &o) {
  cmd->add_option("model", o.model,
                  "Model spec: a JSON file, or the name of a shipped model "
                  "(resnet50, d2l_resnet18, ...)")
      ->required();
  cmd->add_option("--input", o.input,
                  "Override the spec's input size, as CxHxW (e.g. 3x224x224)");
}

int runExpand(const CommonOptions &o) {
  auto m = rnc::loadModel(o.model, o.input);
  rnc::OutputSet files;
  if (!m || !rnc::claimOutput(files, o.output, "-o", m->file))
    return 1;
  return rnc::writeOutput(o.output, rnc::spec::writeGraph(m->graph).dump(2) + "\n")
             ? 0
             : 1;
}

int runEmitMlir(const CommonOptions &o, int64_t batch, bool bnTraining,
                bool locations) {
  auto m = rnc::loadModel(o.model, o.input);
  rnc::OutputSet files;
  if (!m || !rnc::claimOutput(files, o.output, "-o", m->file))
    return 1;
  mlir::MLIRContext ctx;
  auto module = rnc::lower(ctx, *m, batch, bnTraining);
  if (!module)
    return 1;
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (locations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  module->print(os, flags);
  os << "\n";
  return rnc::writeOutput(o.output, os.str()) ? 0 : 1;
}

int runSummary(const CommonOptions &o, int64_t batch, int depth) {
  auto m = rnc::loadModel(o.model, o.input);
  rnc::OutputSet files;
  if (!m || !rnc::claimOutput(files, o.output, "-o", m->file))
    return 1;
  mlir::MLIRContext ctx;
  auto module = rnc::lower(ctx, *m, /*batch=*/0, /*bnTraining=*/false);
  if (!module)
    return 1;
  rnc::OneLineDiagnostics diagnostics(ctx, m->file);
  rnc::Summary summary;
  if (!rnc::summarize(*module, batch, depth, summary))
    return 1;
  return rnc::writeOutput(o.output, rnc::formatSummary(summary)) ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"rnc: a compiler for residual networks.\n"
               "A model spec (JSON, see docs/spec.md) is expanded to a graph, "
               "lowered to the `rn` MLIR dialect and summarized or compiled."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("rnc ") + RNC_VERSION);
  app.failure_message([](const CLI::App *, const CLI::Error &e) {
    return rnc::oneLine(fmt::format("rnc: error: {} (see --help)", e.what())) +
           "\n";
  });

  CommonOptions common;
  int64_t batch = 0, summaryBatch = 1;
  int depth = 0;
  bool bnTraining = false, locations = false;

  auto *expand = app.add_subcommand(
      "expand", "Print the explicit graph form of a spec (JSON)");
  addModelOptions(expand, common);
  expand->add_option("-o,--output", common.output, "Output file (default: stdout)");

  auto *emit = app.add_subcommand("emit-mlir", "Print the model as `rn` IR");
  addModelOptions(emit, common);
  emit->add_option("-o,--output", common.output, "Output file (default: stdout)");
  emit->add_option("--batch", batch,
                   "Static batch size (default: dynamic, printed as ?)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  emit->add_flag("--bn-training", bnTraining,
                 "Emit batch_norm in training mode (batch statistics)");
  emit->add_flag("--locations", locations,
                 "Print op locations (node name and spec file)");

  auto *summary = app.add_subcommand(
      "summary", "Per-layer table: output shape, parameters, MACs, totals");
  addModelOptions(summary, common);
  summary->add_option("-o,--output", common.output, "Output file (default: stdout)");
  summary->add_option("--batch", summaryBatch, "Batch size for shapes and MACs")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20))
      ->capture_default_str();
  summary->add_option("--depth", depth,
                      "Merge layers by name prefix: 1 = stem layers, layer1..4, "
                      "fc; 2 = blocks; 0 = every op")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();

  rnc::CompileOptions compileOpts;
  auto *compile = app.add_subcommand(
      "compile", "Compile a model into a shared object that trains (C ABI "
                 "of runtime/rnc_abi.h)");
  rnc::addCompileOptions(compile, compileOpts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }

  if (*expand)
    return runExpand(common);
  if (*emit)
    return runEmitMlir(common, batch, bnTraining, locations);
  if (*summary)
    return runSummary(common, summaryBatch, depth);
  if (*compile)
    return rnc::runCompile(compileOpts);
  return 2;
}
