// rnc-translate: final `rn` IR -> the source of a compiled model, the last
// stage of `rnc compile` on its own (for tests and for reading the code a
// model becomes). Takes the IR `rnc compile --emit ir` or
// `rnc-opt --rnc-compile-pipeline` prints:
//   rnc-translate --rn-to-cpu model.mlir     C++ over kernels/cpu
//   rnc-translate --rn-to-cuda model.mlir    CUDA C++ over kernels/cuda
#include "codegen/EmitModel.h"
#include "dialect/RnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

#include "llvm/Support/CommandLine.h"

namespace {

llvm::cl::opt<std::string> modelName("model-name",
                                     llvm::cl::desc("Model name in kInfo"),
                                     llvm::cl::init("model"));
llvm::cl::opt<int64_t> maxBatch(
    "max-batch",
    llvm::cl::desc("Largest batch a step accepts (sizes an unplanned "
                   "workspace; match the memory plan's max-batch)"),
    llvm::cl::init(128));
llvm::cl::opt<int64_t> bucketFloats(
    "grad-bucket-floats",
    llvm::cl::desc("cuda: floats per bucket of the gradient sum that "
                   "overlaps the backward pass"),
    llvm::cl::init(int64_t(1) << 20));
llvm::cl::opt<std::string>
    precision("precision",
              llvm::cl::desc("cuda: fp32, tf32 or bf16 (the default)"),
              llvm::cl::init("bf16"));

void registerDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::rn::RnDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();
}

mlir::LogicalResult translate(mlir::Operation *op, llvm::raw_ostream &os,
                              llvm::StringRef target) {
  auto module = llvm::dyn_cast<mlir::ModuleOp>(op);
  if (!module)
    return op->emitError("rnc-translate: expected a builtin.module");
  if (precision != "fp32" && precision != "tf32" && precision != "bf16")
    return module.emitError("rnc-translate: --precision must be fp32, tf32 "
                            "or bf16, got '")
           << precision << "'";
  if (maxBatch < 1)
    return module.emitError("rnc-translate: --max-batch must be >= 1");
  rnc::codegen::ModelMeta meta;
  meta.name = modelName;
  meta.rncVersion = RNC_VERSION;
  meta.specHash = "none (translated from IR)";
  meta.maxBatch = maxBatch;
  if (bucketFloats < 1)
    return module.emitError("rnc-translate: --grad-bucket-floats must be >= 1");
  meta.bucketFloats = bucketFloats;
  meta.target = target.str();
  meta.precision = target == "cuda" ? precision.getValue() : "fp32";
  return rnc::codegen::emitModel(module, meta, os);
}

} // namespace

int main(int argc, char **argv) {
  mlir::TranslateFromMLIRRegistration toCpu(
      "rn-to-cpu", "final rn IR -> C++ of a cpu model (kernels/cpu)",
      [](mlir::Operation *op, llvm::raw_ostream &os) {
        return translate(op, os, "cpu");
      },
      registerDialects);
  mlir::TranslateFromMLIRRegistration toCuda(
      "rn-to-cuda", "final rn IR -> CUDA C++ of a cuda model (kernels/cuda)",
      [](mlir::Operation *op, llvm::raw_ostream &os) {
        return translate(op, os, "cuda");
      },
      registerDialects);
  return mlir::failed(mlir::mlirTranslateMain(
      argc, argv, "rnc translation driver (rn IR -> model source)"));
}
