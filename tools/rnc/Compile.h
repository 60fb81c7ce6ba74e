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
  std::string precision;   // cuda: fp32 | tf32 | bf16 ("" = bf16)
  std::string cudaArch = "80,90a"; // sm_XX list for nvcc
  std::string march;    // cpu: -march for the C++ compiler ("" = native)
  int64_t maxBatch = 128;
  double bucketMiB = 4; // cuda: MiB per bucket of the overlapped gradient sum
  bool printIrAfterAll = false;
  bool memoryPlan = true; // --no-memory-plan: one buffer per tensor
  bool fusion = true;     // --no-fusion: every op its own kernel
  bool explainFusion = false;
  std::string emit = "so"; // so | cpp | ir: what -o receives
  std::string emitCpp;  // also write the generated C++ here
  std::string cxx;      // C++ compiler ("" = $CXX or c++)
  std::string nvcc;     // CUDA compiler ("" = $RNC_NVCC or the toolkit's)
  bool verbose = false;
  int jobs = 0; // compiler jobs (0 = every CPU this process may use)
};

/// Adds the `compile` subcommand's options to `cmd`.
void addCompileOptions(CLI::App *cmd, CompileOptions &o);

/// Runs `rnc compile`; returns the process exit code.
int runCompile(const CompileOptions &o);

} // namespace rnc
