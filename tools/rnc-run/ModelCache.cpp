// Compiling a model spec with the rnc next to rnc-run, cached across runs.
#include "ModelCache.h"

#include "runtime/CacheDir.h"
#include "runtime/InputFile.h"
#include "runtime/InstallLayout.h"
#include "runtime/ModelStamp.h"
#include "runtime/OutputFile.h"
#include "runtime/Subprocess.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace rnc::run {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string &what) {
  throw std::runtime_error("rnc-run: " + what);
}

// The spec file: an existing path, or the shipped spec of a bare name,
// found as `rnc` finds it (runtime/InstallLayout.h).
std::string resolveSpec(const std::string &model) {
  std::string error;
  std::string spec = findModelSpec(model, error);
  if (spec.empty())
    fail(error);
  return spec;
}

std::string readFile(const std::string &path) {
  std::string bytes, error;
  if (!readInputFile(path, uint64_t(64) << 20, "a model spec", bytes, error))
    throw std::runtime_error(path + ": cannot read: " + error);
  return bytes;
}

std::string compilerPath() {
  if (const char *env = std::getenv("RNC_COMPILER"); env && *env)
    return env;
  const std::string self = executableDir();
  if (self.empty())
    fail("cannot find its own folder to locate rnc");
  return self + "/rnc";
}

fs::path modelCacheDir() {
  const std::string base = rnc::cacheDir();
  if (base.empty())
    fail("no cache folder for compiled models: set XDG_CACHE_HOME or HOME");
  fs::path dir = base;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(dir.string() + ": cannot create: " + ec.message());
  return dir;
}

// Runs `argv` (rnc compile) with its output captured in `log`; returns the
// exit status (128 + signal when killed) and the text in `err`. A signal
// that ends rnc-run meanwhile ends the compiler too and removes `cleanup`.
int runCapturingOutput(const std::vector<std::string> &argv,
                       const std::string &log,
                       const std::vector<std::string> &cleanup,
                       std::string &err) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
  if (fd < 0)
    fail(log + ": cannot write: " + std::strerror(errno));
  auto removeAll = [&] {
    for (const std::string &f : cleanup)
      ::unlink(f.c_str());
  };
  ChildResult r = runChild(argv, fd, removeAll);
  ::close(fd);
  std::string error;
  readInputFile(log, uint64_t(16) << 20, "a compiler log", err, error);
  ::unlink(log.c_str());
  if (r.status < 0)
    fail(argv[0] + ": cannot run: " + r.error);
  return r.status;
}

// The last non-empty line of `text`, for a one-line error.
std::string lastLine(const std::string &text) {
  size_t end = text.find_last_not_of("\r\n");
  if (end == std::string::npos)
    return "";
  size_t begin = text.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(begin, end + 1 - begin);
}

} // namespace

std::string compiledModel(const CompileRequest &req) {
  const std::string spec = resolveSpec(req.model);
  const std::string name = fs::path(spec).stem().string();
  const std::string rnc = compilerPath();
  struct stat st;
  if (::stat(rnc.c_str(), &st) != 0 || ::access(rnc.c_str(), X_OK) != 0)
    fail("cannot compile " + name + ": no rnc at " + rnc +
         " (rnc-run uses the rnc in its own folder, or $RNC_COMPILER)");

  std::vector<std::string> flags = {"--max-batch", std::to_string(req.maxBatch)};
  if (!req.input.empty())
    flags.insert(flags.end(), {"--input", req.input});
  if (req.target != "cpu")
    flags.insert(flags.end(), {"--target", req.target});
  rnc::CacheKey key;
  key.add(readFile(spec));
  key.add(RNC_VERSION);
  key.add("stamped"); // builds from before the integrity record are not used
  key.add(std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) +
          "." + std::to_string(st.st_mtim.tv_nsec));
  for (const std::string &f : flags)
    key.add(f);
  const fs::path cached = modelCacheDir() / (name + "-" + key.hex() + ".so");
  std::error_code ec;
  if (fs::is_regular_file(cached, ec)) {
    // A damaged cached build is rebuilt rather than refused.
    std::string bytes, error;
    if (!readInputFile(cached.string(), uint64_t(8) << 30, "a model .so",
                       bytes, error) ||
        !(error = checkModelStamp(bytes)).empty()) {
      std::printf("rnc-run: %s: %s; rebuilding it\n", cached.c_str(),
                  error.c_str());
    } else {
      std::printf("rnc-run: using %s (cached build of %s)\n", cached.c_str(),
                  name.c_str());
      return cached.string();
    }
  }

  // Built under a temporary name and renamed, so that an interrupted or
  // concurrent build never leaves a truncated .so under the cached name.
  const std::string tmp = temporaryNameFor(cached.string());
  std::vector<std::string> argv = {rnc, "compile", spec, "-o", tmp};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::printf("rnc-run: compiling %s%s (first run only) ...", name.c_str(),
              req.target == "cuda" ? " for cuda (nvcc takes minutes)" : "");
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  std::string err;
  const std::string log = tmp + ".log";
  int status = runCapturingOutput(argv, log, {tmp, log}, err);
  if (status != 0 || !fs::is_regular_file(tmp, ec)) {
    std::printf("\n");
    fs::remove(tmp, ec);
    std::string why = lastLine(err);
    if (status != 0 && why.empty())
      why = "rnc exited with status " + std::to_string(status);
    else if (status == 0)
      why = "rnc exited with status 0 but wrote no " + tmp;
    fail("compiling " + name + " failed: " + why);
  }
  if (std::string why = replaceFile(tmp, cached.string()); !why.empty()) {
    std::printf("\n");
    throw std::runtime_error(cached.string() + ": cannot write: " + why);
  }
  std::printf(" done in %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                  .count());
  std::fflush(stdout);
  std::fputs(err.c_str(), stderr); // the compiler's warnings, if any
  return cached.string();
}

} // namespace rnc::run
