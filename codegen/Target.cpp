// The cpu and cuda code generation targets (Target.h).
#include "codegen/Target.h"

#include "codegen/EmitModel.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdio>

namespace rnc::codegen {

std::string cppStringLiteral(llvm::StringRef s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c); // octal: at most 3 digits
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string cppCommentText(llvm::StringRef s) {
  std::string out;
  for (unsigned char c : s)
    out += c < 0x20 || c == 0x7f || c == '\\' ? '?' : char(c);
  return out;
}

namespace {

/// `void init(float *S, uint64_t seed)`: the init rules (kernels/init.h),
/// host code on both targets.
void emitInit(const std::string &body, llvm::raw_ostream &os) {
  os << "void init(float *S, uint64_t seed) {\n"
     << "  using namespace rnc::init; // on the host\n"
     << body << "}\n\n";
}

void emitEval(const EmittedModel &model, llvm::raw_ostream &os) {
  os << "void eval(float *S, float *W, const float *x, int N, float "
        "*logits_out) {\n"
     << model.evalBody << "}\n\n";
}

/// The op names and per-op times of OpTimer (kernels/cpu/profile.h; cuda:
/// kernels/cuda/debug.cuh, which also checks each op with RNC_CUDA_SYNC=1).
void emitOpTables(const EmittedModel &model, llvm::StringRef ns,
                  llvm::raw_ostream &os) {
  os << "// Per-op wall time when RNC_PROFILE is set (kernels/" << ns
     << (ns == "cpu" ? "/profile.h" : "/debug.cuh") << ").\n"
     << "const char *const kOpNames[] = {\n    \"\",\n";
  for (const std::string &name : model.profileNames)
    os << "    " << cppStringLiteral(name) << ",\n";
  os << "};\nconstexpr int kNumOps = " << model.profileNames.size() << ";\n"
     << "double g_op_seconds[kNumOps + 1];\nlong g_op_calls[kNumOps + 1];\n"
     << "using OpTimer = rnc::" << ns
     << "::OpTimer<g_op_seconds, g_op_calls>;\n\n";
}

class CpuTarget final : public Target {
public:
  llvm::StringRef name() const override { return "cpu"; }
  bool nhwcActivations() const override { return false; }
  bool batchesUpdates() const override { return false; }
  bool overlapsGradientSum() const override { return false; }
  bool profilesOps() const override { return true; }
  std::string copyFloats(llvm::StringRef dst, llvm::StringRef src,
                         llvm::StringRef n) const override {
    return llvm::formatv("std::memcpy({0}, {1}, sizeof(float) * {2})", dst,
                         src, n);
  }
  std::string bnSync() const override { return "comm.bn()"; }
  std::vector<std::string> trainReturn(llvm::StringRef loss,
                                       llvm::StringRef correct) const override {
    return {llvm::formatv("*loss_out = *{0}; *correct_out = "
                          "*reinterpret_cast<const int32_t *>({1})",
                          loss, correct)};
  }
  std::vector<std::string> evalReturn(llvm::StringRef logits,
                                      llvm::StringRef count) const override {
    return {copyFloats("logits_out", logits, count)};
  }
  void emitPrologue(const ModelMeta &meta,
                    llvm::raw_ostream &os) const override {
    // fp32 code defines nothing: kernels/cpu/bf16.h defaults to fp32.
    if (meta.precision == "bf16")
      os << "#ifndef RNC_CPU_PRECISION\n#define RNC_CPU_PRECISION 2 // bf16\n"
         << "#endif\n";
    os << "#include <cstring>\n\n"
       << "#include \"kernels/cpu/collectives.h\"\n"
       << "#include \"kernels/cpu/profile.h\"\n"
       << "#include \"kernels/cpu/rnc_cpu.h\"\n"
       << "#include \"kernels/init.h\"\n"
       << "#include \"runtime/rnc_abi.h\"\n\n"
       << "namespace gen {\nusing namespace rnc::cpu;\n\n";
  }
  void emitTables(const EmittedModel &model,
                  llvm::raw_ostream &os) const override {
    emitOpTables(model, "cpu", os);
    os << "// Per-channel sums of the fused conv + BN statistics.\n"
       << "float g_sum[" << model.statChannels << "], g_sumsq["
       << model.statChannels << "];\n\n";
  }
  void emitFunctions(const std::string &initBody, const EmittedModel &model,
                     llvm::raw_ostream &os) const override {
    emitInit(initBody, os);
    os << "void train_step(float *S, float *W, const float *x, const int32_t "
          "*labels, int N, float lr, float momentum, float weight_decay, "
          "float *loss_out, int32_t *correct_out, const StepComm &comm) {\n"
       << "  // The global batch: N with one process, else the sum over the "
          "ranks\n  // (kernels/cpu/collectives.h).\n"
       << "  const int NG = comm.global_batch(N);\n"
       << "  // The batch of the BN statistics: NG under SyncBN, else N.\n"
       << "  const int NB = comm.bn_batch(N);\n"
       << model.trainBody << "}\n\n";
    emitEval(model, os);
    os << "} // namespace gen\n\n#include \"kernels/cpu/model_abi.h\"\n";
  }
};

class CudaTarget final : public Target {
public:
  llvm::StringRef name() const override { return "cuda"; }
  bool nhwcActivations() const override { return true; }
  bool batchesUpdates() const override { return true; }
  bool overlapsGradientSum() const override { return true; }
  bool profilesOps() const override { return true; }
  std::string copyFloats(llvm::StringRef dst, llvm::StringRef src,
                         llvm::StringRef n) const override {
    return llvm::formatv("copy_floats({0}, {1}, {2})", dst, src, n);
  }
  // SyncBN: the sums over the ranks on the device, in stream order (NG is
  // summed on the host before the step, kernels/cuda/model_abi.cuh); the
  // backward's scratch is g_sum and g_sumsq (2 x kStatChannels floats).
  std::string bnSync() const override { return "comm.bn(NG, g_sum)"; }
  std::vector<std::string> trainReturn(llvm::StringRef loss,
                                       llvm::StringRef correct) const override {
    return {copyFloats("loss_out", loss, "1"),
            copyFloats("reinterpret_cast<float *>(correct_out)", correct,
                       "1")};
  }
  std::vector<std::string> evalReturn(llvm::StringRef logits,
                                      llvm::StringRef count) const override {
    return {copyFloats("logits_out", logits, count)};
  }
  void emitPrologue(const ModelMeta &meta,
                    llvm::raw_ostream &os) const override {
    int macro = meta.precision == "fp32" ? 0 : meta.precision == "tf32" ? 1 : 2;
    os << "#ifndef RNC_CUDA_PRECISION\n#define RNC_CUDA_PRECISION " << macro
       << " // " << meta.precision << "\n#endif\n"
       << "#include <array>\n#include <cstring>\n\n"
       << "#include \"kernels/cuda/rnc_cuda.cuh\"\n"
       << "#include \"kernels/init.h\"\n"
       << "#include \"runtime/rnc_abi.h\"\n\n"
       << "namespace gen {\nusing namespace rnc::cuda;\n\n";
  }
  void emitTables(const EmittedModel &model,
                  llvm::raw_ostream &os) const override {
    emitOpTables(model, "cuda", os);
    os << "// The parameters rnc::cuda::sgd_update_all updates in one "
          "launch:\n// {param, momentum buffer, gradient, numel}, offsets in "
          "the state block.\n";
    size_t n = std::max<size_t>(1, model.sgdTable.size());
    os << "constexpr SgdTable<" << n << "> kSgdTable = {{\n";
    for (const std::string &row : model.sgdTable)
      os << "    " << row << ",\n";
    os << "}};\n\n";
    os << "// Per-channel sums of the fused conv + BN statistics (device).\n"
       << "constexpr int kStatChannels = " << model.statChannels << ";\n"
       << "float *g_sum = nullptr, *g_sumsq = nullptr;\n\n";
  }
  void emitFunctions(const std::string &initBody, const EmittedModel &model,
                     llvm::raw_ostream &os) const override {
    emitInit(initBody, os);
    os << "void train_step(float *S, float *W, const float *x, const int32_t "
          "*labels, int N, const float *hyper, float *loss_out, int32_t "
          "*correct_out, int NG, const StepComm &comm) {\n"
       << "  // NG: the global batch (N with one process); comm: the sum of "
          "the\n  // gradients over the ranks (kernels/cuda/collectives.cuh).\n"
       << "  // The batch of the BN statistics: NG under SyncBN, else N.\n"
       << "  const int NB = comm.bn_batch(N, NG);\n"
       << "  (void)NB;\n"
       << model.trainBody << "}\n\n";
    emitEval(model, os);
    os << "// The convolution shapes (the glue sizes the scratch of their "
          "partial\n// sums for kInfo.max_batch).\n"
       << "constexpr std::array<rnc::Conv2DShape, " << model.convShapes.size()
       << "> kConvShapes = {{" << llvm::join(model.convShapes, ", ")
       << "}};\n\n";
    os << "} // namespace gen\n\n#include \"kernels/cuda/model_abi.cuh\"\n";
  }
};

} // namespace

std::string Target::globalBatch() const { return "NG"; }

std::string Target::sumOverRanks(int64_t offset, int64_t count) const {
  return llvm::formatv("comm.sum(S + {0}, {1})", offset, count);
}

std::string Target::sumOverRanksAsync(int64_t offset, int64_t count) const {
  return llvm::formatv("comm.sum_async(S + {0}, {1})", offset, count);
}

std::string Target::joinSumsOverRanks() const { return "comm.join()"; }

std::string Target::bnBatch() const { return "NB"; }

std::string Target::bnSumOverRanks(llvm::StringRef data, int64_t n) const {
  return llvm::formatv("comm.bn_sum({0}, {1})", data, n);
}

const Target *Target::get(llvm::StringRef name) {
  static const CpuTarget cpu;
  static const CudaTarget cuda;
  if (name == "cpu")
    return &cpu;
  if (name == "cuda")
    return &cuda;
  return nullptr;
}

} // namespace rnc::codegen
