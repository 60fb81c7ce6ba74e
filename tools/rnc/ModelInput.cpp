// Loading the model spec given on the command line (see ModelInput.h).
#include "ModelInput.h"

#include "frontend/Shapes.h"
#include "frontend/Spec.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace rnc {

std::string oneLine(const std::string &text) {
  std::string out;
  for (unsigned char ch : text) {
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\t')
      out += ' ';
    else if (ch < 0x20 || ch == 0x7f)
      out += fmt::format("\\x{:02x}", ch);
    else
      out += static_cast<char>(ch);
  }
  return out;
}

static bool isRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

static std::string resolve(const std::string &arg) {
  if (isRegularFile(arg))
    return arg;
  // A bare model name: look in the shipped models folder.
  if (arg.find('/') == std::string::npos) {
    std::string name = arg;
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0)
      name += ".json";
    std::string shipped = std::string(RNC_MODELS_DIR) + "/" + name;
    if (isRegularFile(shipped))
      return shipped;
  }
  return arg;
}

std::optional<LoadedModel> loadModel(const std::string &arg,
                                     const std::string &inputFlag) {
  LoadedModel m;
  m.file = resolve(arg);
  struct stat st;
  if (::stat(m.file.c_str(), &st) != 0) {
    std::cerr << oneLine(fmt::format("{}: cannot read: {}", m.file,
                                     std::strerror(errno)))
              << "\n";
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    std::cerr << oneLine(fmt::format("{}: not a regular file", m.file)) << "\n";
    return std::nullopt;
  }
  if (st.st_size > (64 << 20)) {
    std::cerr << oneLine(fmt::format("{}: {} bytes is too large for a model "
                                     "spec (limit 64 MiB)",
                                     m.file, st.st_size))
              << "\n";
    return std::nullopt;
  }
  std::ifstream in(m.file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    std::cerr << oneLine(fmt::format("{}: read error", m.file)) << "\n";
    return std::nullopt;
  }
  try {
    std::optional<spec::Shape> input;
    if (!inputFlag.empty())
      input = spec::parseShapeFlag(inputFlag, "--input");
    m.graph = spec::readSpecText(text.str(), input);
    spec::inferShapes(m.graph);
  } catch (const spec::SpecError &e) {
    std::cerr << oneLine(spec::formatSpecError(m.file, e)) << "\n";
    return std::nullopt;
  }
  return m;
}

bool writeOutput(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = f && (std::fflush(f) == 0) && ok && ::fsync(fileno(f)) == 0;
  int err = errno;
  if (f)
    ok = (std::fclose(f) == 0) && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ok = false;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    std::cerr << oneLine(fmt::format("{}: cannot write: {}", path,
                                     std::strerror(err)))
              << "\n";
  }
  return ok;
}

} // namespace rnc
