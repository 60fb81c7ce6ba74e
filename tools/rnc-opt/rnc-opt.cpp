// rnc-opt: runs rnc passes on .mlir files, for tests and debugging. Around
// MLIR's opt driver: the input must be a regular file (or stdin) of bounded
// size and nesting, and the output is written by rnc's output policy
// (runtime/OutputFile.h): never over the input, a link or a device, and only
// when the passes succeed.
#include "InputLimits.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include "dialect/RnOps.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"
#include "runtime/InputFile.h"
#include "runtime/OutputFile.h"

#include <unistd.h>

namespace {

constexpr uint64_t kMaxInputBytes = uint64_t(64) << 20;

// stdin, up to the same limit as a file.
bool readStdin(std::string &text, std::string &error) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0)
      return true;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      error = std::string("read error: ") + std::strerror(errno);
      return false;
    }
    text.append(buf, size_t(n));
    if (text.size() > kMaxInputBytes) {
      error = "more than the " + rnc::formatBytes(kMaxInputBytes) +
              " an IR file may have";
      return false;
    }
  }
}

int fail(const std::string &message) {
  llvm::errs() << "rnc-opt: " << message << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  mlir::rn::registerRncPasses();
  mlir::rn::registerRncPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();

  mlir::DialectRegistry registry;
  registry.insert<mlir::rn::RnDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();

  auto [input, output] = mlir::registerAndParseCLIOptions(
      argc, argv, "rnc optimizer driver (rn dialect and rnc passes)\n",
      registry);
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();

  std::string text, error;
  bool read = input == "-" ? readStdin(text, error)
                           : rnc::readInputFile(input, kMaxInputBytes,
                                                "an IR file", text, error);
  if (!read)
    return fail((input == "-" ? "<stdin>" : input) + ": cannot read: " + error);
  if (std::string why = rnc::opt::nestingProblem(text); !why.empty())
    return fail(input + ": " + why);

  rnc::OutputSet files;
  if (output != "-") {
    if (input != "-")
      files.addInput(input, "the input");
    files.addOutput(output, "-o", "", /*discardable=*/true);
    if (std::string why = files.claim(); !why.empty())
      return fail(why);
  }
  std::string result;
  llvm::raw_string_ostream os(result);
  if (mlir::failed(mlir::MlirOptMain(
          os, llvm::MemoryBuffer::getMemBufferCopy(text, input), registry,
          config)))
    return 1;
  os.flush();
  if (output == "-") {
    llvm::outs() << result;
    llvm::outs().flush();
    return llvm::outs().has_error() ? 1 : 0;
  }
  if (std::string why = rnc::tryWriteFileAtomically(
          output, "", [&](int fd) {
            return rnc::writeAll(fd, result.data(), result.size());
          });
      !why.empty())
    return fail(why);
  return 0;
}
