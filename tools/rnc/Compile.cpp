// `rnc compile` (Compile.h).
#include "Compile.h"

#include "Lower.h"
#include "ModelInput.h"

#include "dialect/FunctionRoles.h"
#include "codegen/BuildSharedObject.h"
#include "codegen/EmitModel.h"
#include "frontend/Spec.h"
#include "kernels/cpu/cpu_features.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"
#include "runtime/OutputFile.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

namespace rnc {

namespace {

std::string specHash(const spec::Graph &graph) {
  std::string canonical = spec::writeGraph(graph).dump();
  auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(canonical.data()), canonical.size()));
  return llvm::toHex(digest, /*LowerCase=*/true);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// Prints the planned workspace peak of the training step beside the
/// one-buffer-per-tensor total.
void reportMemoryPlan(mlir::ModuleOp module, int64_t maxBatch) {
  auto step =
      mlir::rn::lookupFunction(module, mlir::rn::FunctionRole::TrainStep);
  if (!step)
    return;
  auto planned = step->getAttrOfType<mlir::IntegerAttr>("rn.arena_floats");
  auto unplanned = step->getAttrOfType<mlir::IntegerAttr>("rn.unplanned_floats");
  if (!planned || !unplanned || unplanned.getInt() == 0)
    return;
  double mb = 4.0 / 1e6;
  std::cerr << fmt::format(
      "rnc: memory plan: training workspace {:.1f} MB at batch {} (one "
      "buffer per tensor: {:.1f} MB, {:.0f}% less)\n",
      planned.getInt() * mb, maxBatch, unplanned.getInt() * mb,
      100.0 * (1.0 - double(planned.getInt()) / unplanned.getInt()));
}

} // namespace

void addCompileOptions(CLI::App *cmd, CompileOptions &o) {
  cmd->add_option("model", o.model,
                  "Model spec: a JSON file, or the name of a shipped model")
      ->required();
  cmd->add_option("-o,--output", o.output,
                  "Shared object to write (default: <model name>.so)");
  cmd->add_option("--input", o.input,
                  "Override the spec's input size, as CxHxW (e.g. 1x96x96)");
  cmd->add_option("--max-batch", o.maxBatch,
                  "Largest batch a training or eval step accepts (smaller "
                  "batches run without recompiling)")
      ->check(CLI::Range(int64_t(1), int64_t(65536)))
      ->capture_default_str();
  cmd->add_option("--target", o.target,
                  "Code generation target: cpu (C++, runs everywhere) or cuda "
                  "(CUDA kernels built with nvcc; trains on an NVIDIA GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--precision", o.precision,
                  "Arithmetic of the convolutions (and, on cuda, the linear "
                  "layers). cuda: bf16 (tensor cores, the default), tf32 "
                  "(tensor cores) or fp32 (no tensor cores). cpu: fp32 (the "
                  "default) or bf16 (AVX512-BF16 dot products on the "
                  "small-plane conv kernels; needs a CPU that has it). "
                  "Accumulation, master weights, optimizer state and BN "
                  "statistics are fp32 in every case")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  cmd->add_option("--cuda-arch", o.cudaArch,
                  "cuda: GPU architectures to build for, comma-separated "
                  "sm numbers (80 = A100, 90a = H100)")
      ->capture_default_str();
  cmd->add_option("--grad-bucket-mb", o.bucketMiB,
                  "cuda, data-parallel jobs: MiB of gradients per allreduce "
                  "bucket; each bucket is summed over the ranks as soon as "
                  "the backward pass has written it, beside the rest of the "
                  "pass (smaller: earlier overlap, more NCCL calls)")
      ->check(CLI::Range(0.001, 4096.0))
      ->capture_default_str();
  cmd->add_option("--march", o.march,
                  "cpu: the x86 CPU to build for, as the C++ compiler's "
                  "-march: native (this machine's, the default), x86-64-v3 "
                  "(AVX2, FMA: most x86 CPUs since 2015; for a .so that runs "
                  "elsewhere), x86-64-v4 (AVX-512), or a CPU name")
      ->type_name("CPU");
  cmd->add_option("--emit", o.emit,
                  "What to write: so (build the shared object), cpp (the "
                  "generated C++) or ir (the final rn IR); cpp and ir go to "
                  "stdout unless -o is given")
      ->check(CLI::IsMember({"so", "cpp", "ir"}))
      ->capture_default_str();
  cmd->add_flag("!--no-fusion", o.fusion,
                "Keep every op a separate kernel (to measure or bisect the "
                "fusion passes)");
  cmd->add_flag("--explain-fusion", o.explainFusion,
                "Print one line per fused kernel (what it absorbed) and per "
                "BN, ReLU and add left alone (why)");
  cmd->add_flag("!--no-memory-plan", o.memoryPlan,
                "Give every tensor its own workspace buffer instead of "
                "planning offsets by liveness (for measuring the plan)");
  cmd->add_flag("--print-ir-after-all", o.printIrAfterAll,
                "Print the IR after every pass (to stderr)");
  cmd->add_option("--emit-cpp", o.emitCpp,
                  "Also write the generated C++ to this file");
  cmd->add_option("--cxx", o.cxx, "C++ compiler (default: $CXX, else c++)");
  cmd->add_option("--nvcc", o.nvcc,
                  "cuda: nvcc to use (default: $RNC_NVCC, else "
                  "/usr/local/cuda/bin/nvcc, else nvcc on PATH)");
  cmd->add_option("-j,--jobs", o.jobs,
                  "Cores the C++ compiler or nvcc may use at once (0: every "
                  "CPU this process may run on). cpu with g++: the code is "
                  "generated in parallel partitions (-flto=N); cuda: the "
                  "architectures are compiled side by side (--threads N). "
                  "1 builds serially")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_flag("-v,--verbose", o.verbose, "Print the compiler command");
}

int runCompile(const CompileOptions &o) {
  auto t0 = std::chrono::steady_clock::now();
  const bool cuda = o.target == "cuda";
  if (!cuda && o.precision == "tf32") {
    std::cerr << "rnc: error: --precision tf32 needs --target cuda (the cpu "
                 "target has fp32 and bf16)\n";
    return 1;
  }
  // The .so is built for this CPU (-march=native): it must have the
  // instructions. A named --march builds for another CPU; the compiler then
  // refuses one that lacks them (kernels/cpu/bf16.h), and the .so's
  // rnc_create refuses a CPU that lacks them.
  const bool cpuBf16 = !cuda && o.precision == "bf16";
  if (cpuBf16 && (o.march.empty() || o.march == "native") &&
      !rnc::cpu::cpu_has_avx512_bf16()) {
    std::cerr << "rnc: error: --precision bf16 --target cpu needs a CPU "
                 "with AVX512-BF16, which this one lacks (use --precision "
                 "fp32)\n";
    return 1;
  }
  std::vector<std::string> archs;
  for (llvm::StringRef a : llvm::split(o.cudaArch, ','))
    if (!a.trim().empty()) {
      llvm::StringRef digits = a.trim();
      digits.consume_back("a"); // arch-specific features (sm_90a)
      if (digits.empty() || !llvm::all_of(digits, llvm::isDigit)) {
        std::cerr << "rnc: error: --cuda-arch: '" << a.trim().str()
                  << "' is not an sm number such as 80 or 90a\n";
        return 1;
      }
      archs.push_back(a.trim().str());
    }
  if (!o.march.empty()) {
    if (cuda) {
      std::cerr << "rnc: error: --march applies to --target cpu (the cuda "
                   "target's host code is built for any x86-64)\n";
      return 1;
    }
    if (!llvm::all_of(o.march, [](char c) {
          return llvm::isAlnum(c) || c == '-' || c == '_' || c == '.';
        })) {
      std::cerr << "rnc: error: --march: '" << oneLine(o.march)
                << "' is not a CPU name such as native or x86-64-v3\n";
      return 1;
    }
  }
  if (cuda && archs.empty()) {
    std::cerr << "rnc: error: --cuda-arch: no architecture given\n";
    return 1;
  }
  auto m = loadModel(o.model, o.input);
  if (!m)
    return 1;
  // The outputs are checked and locked before any work (runtime/OutputFile.h).
  // The default name is the model's, which the spec reader allows only as a
  // plain file name.
  const std::string output =
      o.output.empty() && o.emit == "so" ? m->graph.name + ".so" : o.output;
  OutputSet files;
  files.addInput(m->file, "the model spec");
  // Text may go to /dev/null; the shared object may not (it is renamed
  // into place).
  if (o.emit == "so" || !(output.empty() || output == "-"))
    files.addOutput(output, "-o", "", /*discardable=*/o.emit != "so");
  if (o.emit == "so" && !o.emitCpp.empty())
    files.addOutput(o.emitCpp, "--emit-cpp", "", /*discardable=*/true);
  if (std::string error = files.claim(); !error.empty()) {
    std::cerr << oneLine("rnc: error: " + error) << "\n";
    return 1;
  }
  mlir::MLIRContext ctx;
  ctx.disableMultithreading(); // IR printing needs it; the module is small
  auto module = lower(ctx, *m, /*batch=*/0, /*bnTraining=*/false);
  if (!module)
    return 1;

  OneLineDiagnostics diagnostics(ctx, m->file);
  mlir::PassManager pm(&ctx);
  if (o.printIrAfterAll)
    pm.enableIRPrinting(
        /*shouldPrintBeforePass=*/[](mlir::Pass *, mlir::Operation *) {
          return false;
        },
        /*shouldPrintAfterPass=*/[](mlir::Pass *, mlir::Operation *) {
          return true;
        },
        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
        /*printAfterOnlyOnFailure=*/false, llvm::errs());
  mlir::rn::CompilePipelineOptions pipeline;
  pipeline.fusion = o.fusion;
  pipeline.explainFusion = o.explainFusion;
  pipeline.memoryPlan = o.memoryPlan;
  pipeline.maxBatch = o.maxBatch;
  pipeline.target = o.target;
  mlir::rn::buildCompilePipeline(pm, pipeline);
  if (failed(pm.run(*module)))
    return 1;
  if (o.memoryPlan)
    reportMemoryPlan(*module, o.maxBatch);

  if (o.emit == "ir") {
    std::string text;
    llvm::raw_string_ostream irOs(text);
    module->print(irOs);
    irOs << "\n";
    return writeOutput(o.output, irOs.str()) ? 0 : 1;
  }

  codegen::ModelMeta meta;
  meta.name = m->graph.name;
  meta.rncVersion = RNC_VERSION;
  meta.specHash = specHash(m->graph);
  meta.maxBatch = o.maxBatch;
  meta.bucketFloats = std::max<int64_t>(
      1, static_cast<int64_t>(o.bucketMiB * 1024 * 1024 / sizeof(float)));
  meta.target = o.target;
  meta.precision = cuda ? (o.precision.empty() ? "bf16" : o.precision)
                        : (o.precision.empty() ? "fp32" : o.precision);
  std::string cpp;
  llvm::raw_string_ostream os(cpp);
  codegen::ModelStats stats;
  if (failed(codegen::emitModel(*module, meta, os, &stats)))
    return 1;
  std::cerr << fmt::format("rnc: code: {} kernel calls per training step, {} "
                           "per eval batch{}\n",
                           stats.trainKernels, stats.evalKernels,
                           o.fusion ? "" : " (no fusion)");
  os.flush();
  if (o.emit == "cpp")
    return writeOutput(o.output, cpp) ? 0 : 1;
  double frontSeconds = secondsSince(t0);

  std::string targetText =
      cuda ? fmt::format("cuda {}, sm_{}", meta.precision,
                         llvm::join(archs, "/sm_"))
           : std::string(cpuBf16 ? "cpu bf16" : "cpu") + ", -march=" +
                 (o.march.empty() ? std::string("native") : o.march);
  std::cerr << fmt::format("rnc: building {} ({}, input {}x{}x{}, max batch "
                           "{}) -> {} ...{}\n",
                           m->graph.name, targetText, m->graph.input[0],
                           m->graph.input[1], m->graph.input[2], o.maxBatch,
                           output, cuda ? " (nvcc takes a few minutes)" : "");
  codegen::BuildOptions build;
  build.cuda = cuda;
  build.cudaArchs = archs;
  if (!o.march.empty())
    build.march = o.march;
  build.compiler = cuda ? o.nvcc : o.cxx;
  build.keepSource = o.emitCpp;
  build.verbose = o.verbose;
  build.jobs = o.jobs > 0 ? o.jobs : codegen::availableCpus();
  build.onSignal = [&] { files.release(); };
  std::string error;
  if (!codegen::buildSharedObject(cpp, output, build, error)) {
    std::cerr << oneLine("rnc: error: " + m->file + ": " + error) << "\n";
    return 1;
  }
  std::cerr << fmt::format("rnc: wrote {} in {:.1f} s (IR and code {:.2f} s)\n",
                           output, secondsSince(t0), frontSeconds);
  return 0;
}

} // namespace rnc
