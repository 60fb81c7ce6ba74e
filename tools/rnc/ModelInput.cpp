// Loading the model spec given on the command line (see ModelInput.h).
#include "ModelInput.h"

#include "frontend/Shapes.h"
#include "frontend/Spec.h"
#include "runtime/InstallLayout.h"
#include "runtime/InputFile.h"
#include "runtime/OutputFile.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace rnc {

constexpr uint64_t kMaxSpecBytes = uint64_t(64) << 20;

// An existing file, else the shipped spec of a bare name (runtime/
// InstallLayout.h); else `arg` itself, which then fails to open with the
// reader's message.
static std::string resolve(const std::string &arg) {
  std::string error;
  std::string spec = findModelSpec(arg, error);
  return spec.empty() ? arg : spec;
}

std::optional<LoadedModel> loadModel(const std::string &arg,
                                     const std::string &inputFlag) {
  LoadedModel m;
  m.file = resolve(arg);
  std::string text, error;
  if (!readInputFile(m.file, kMaxSpecBytes, "a model spec", text, error)) {
    std::cerr << oneLine(fmt::format("{}: cannot read: {}", m.file, error))
              << "\n";
    return std::nullopt;
  }
  try {
    std::optional<spec::Shape> input;
    if (!inputFlag.empty())
      input = spec::parseShapeFlag(inputFlag, "--input");
    m.graph = spec::readSpecText(text, input);
    spec::inferShapes(m.graph);
  } catch (const spec::SpecError &e) {
    std::cerr << oneLine(spec::formatSpecError(m.file, e)) << "\n";
    return std::nullopt;
  }
  return m;
}

bool claimOutput(OutputSet &files, const std::string &path,
                 const std::string &flag, const std::string &specFile) {
  if (path.empty() || path == "-")
    return true;
  files.addInput(specFile, "the model spec");
  files.addOutput(path, flag, "", /*discardable=*/true);
  std::string error = files.claim();
  if (!error.empty())
    std::cerr << oneLine("rnc: error: " + error) << "\n";
  return error.empty();
}

bool writeOutput(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  std::string error = tryWriteFileAtomically(path, "", [&](int fd) {
    return writeAll(fd, text.data(), text.size());
  });
  if (!error.empty())
    std::cerr << oneLine(error) << "\n";
  return error.empty();
}

} // namespace rnc
