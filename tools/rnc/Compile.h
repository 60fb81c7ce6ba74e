// `rnc compile`: spec -> training IR -> target code -> shared object.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace rnc {

struct CompileOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string target = "cpu";
  int64_t maxBatch = 128;
  bool printIrAfterAll = false;
  bool memoryPlan = true; // --no-memory-plan: one buffer per tensor
  bool fusion = true;     // --no-fusion: every op its own kernel
  bool explainFusion = false;
  std::string emit = "so"; // so | cpp | ir: what -o receives
  std::string emitCpp;  // also write the generated C++ here
  std::string cxx;      // C++ compiler ("" = $CXX or c++)
  bool verbose = false;
};

/// Adds the `compile` subcommand's options to `cmd`.
void addCompileOptions(CLI::App *cmd, CompileOptions &o);

/// Runs `rnc compile`; returns the process exit code.
int runCompile(const CompileOptions &o);

} // namespace rnc
