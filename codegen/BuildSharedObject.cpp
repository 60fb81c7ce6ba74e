// Runs the system C++ compiler on a generated model (BuildSharedObject.h).
#include "codegen/BuildSharedObject.h"

#include "runtime/InstallLayout.h"
#include "runtime/ModelStamp.h"
#include "runtime/OutputFile.h"
#include "runtime/Subprocess.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <sched.h>
#include <unistd.h>

namespace rnc::codegen {

namespace {

// runtime/InstallLayout.h: $RNC_INCLUDE_DIR, <prefix>/include/rnc next to an
// installed rnc, or the source tree for the build folder's rnc.
std::string includeDir() {
  std::string error;
  return kernelIncludeDir(error);
}

/// The first line of the compiler's output that mentions "error".
std::string firstError(llvm::StringRef log) {
  llvm::SmallVector<llvm::StringRef> lines;
  log.split(lines, '\n');
  for (llvm::StringRef l : lines)
    if (l.contains("error"))
      return l.trim().str();
  return lines.empty() ? "" : lines.front().trim().str();
}

bool writeFile(const std::string &path, const std::string &text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return false;
  os << text;
  os.close();
  return !os.has_error();
}

/// Whether `program` is GCC's C++ compiler: its --version names the Free
/// Software Foundation (clang's names clang). The answer goes through `log`.
bool isGcc(const std::string &program, const std::string &log,
           const std::function<void()> &onSignal) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  ChildResult run = runChild({program, "--version"}, fd, onSignal);
  ::close(fd);
  auto buf = llvm::MemoryBuffer::getFile(log);
  if (run.status != 0 || !buf)
    return false;
  llvm::StringRef text = (*buf)->getBuffer();
  return text.contains("Free Software Foundation") && !text.contains("clang");
}

} // namespace

int availableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return 1;
}

std::vector<std::string> parallelFlags(bool cuda, bool gcc, int jobs) {
  if (jobs <= 1)
    return {};
  if (cuda)
    return {"--threads", std::to_string(jobs)};
  if (gcc)
    return {"-flto=" + std::to_string(jobs)};
  return {};
}

std::vector<std::string> defaultCompileFlags(const std::string &march) {
  return {"-std=c++20", "-O3",    "-march=" + march,
          "-fopenmp",   "-fPIC",  "-shared",
          "-fvisibility=hidden",  "-I" + includeDir()};
}

std::vector<std::string> cudaCompileFlags(const std::vector<std::string> &archs) {
  std::vector<std::string> flags = {
      "-std=c++20", "-O3", "--expt-relaxed-constexpr", "-lineinfo",
      "-Xcompiler=-fPIC,-fvisibility=hidden,-fopenmp", "-shared", "-lgomp",
      "-I" + includeDir()};
  for (const std::string &a : archs)
    flags.push_back("-gencode=arch=compute_" + a + ",code=sm_" + a);
  if (!archs.empty())
    flags.push_back("-gencode=arch=compute_" + archs.back() +
                    ",code=compute_" + archs.back());
  return flags;
}

std::string nvccPath() {
  if (const char *env = std::getenv("RNC_NVCC"); env && *env)
    return env;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/nvcc"))
    return "/usr/local/cuda/bin/nvcc";
  if (auto found = llvm::sys::findProgramByName("nvcc"))
    return *found;
  return "";
}

bool buildSharedObject(const std::string &source, const std::string &output,
                       const BuildOptions &options, std::string &error) {
  if (kernelIncludeDir(error).empty())
    return false;
  if (!options.keepSource.empty()) {
    error = tryWriteFileAtomically(options.keepSource, "the generated C++",
                                   [&](int fd) {
                                     return writeAll(fd, source.data(),
                                                     source.size());
                                   });
    if (!error.empty())
      return false;
  }
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("rnc-build", dir)) {
    error = "cannot create a temporary build directory";
    return false;
  }
  std::string cpp = (dir + (options.cuda ? "/model.cu" : "/model.cpp")).str();
  std::string log = (dir + "/compiler.log").str();
  std::string temp = temporaryNameFor(output);
  // Everything the build leaves behind, removed when it ends in any way,
  // a signal included (the compiler's files in the folder too: nvcc keeps
  // intermediate files there when it is killed).
  auto cleanup = [&] {
    llvm::sys::fs::remove(temp);
    llvm::sys::fs::remove_directories(dir);
  };
  if (!writeFile(cpp, source)) {
    error = cpp + ": cannot write the generated C++";
    cleanup();
    return false;
  }

  std::string compiler = options.compiler;
  if (options.cuda && compiler.empty())
    compiler = nvccPath();
  if (options.cuda && compiler.empty()) {
    error = "nvcc not found (looked at $RNC_NVCC, /usr/local/cuda/bin/nvcc "
            "and PATH); --target cuda needs the CUDA toolkit";
    cleanup();
    return false;
  }
  if (compiler.empty())
    compiler = std::getenv("CXX") && *std::getenv("CXX") ? std::getenv("CXX")
                                                         : "c++";
  auto program = llvm::sys::findProgramByName(compiler);
  if (!program || !llvm::sys::fs::can_execute(*program)) {
    error = options.cuda ? "nvcc '" + compiler + "' cannot be run"
                         : "C++ compiler '" + compiler +
                               "' not found (set CXX or pass --cxx; rnc "
                               "needs g++ >= 12 or clang++ >= 16)";
    cleanup();
    return false;
  }
  std::vector<std::string> args = {*program};
  for (const std::string &f : options.cuda
                                   ? cudaCompileFlags(options.cudaArchs)
                                   : defaultCompileFlags(options.march))
    args.push_back(f);
  const bool gcc = !options.cuda && options.jobs > 1 &&
                   isGcc(*program, (dir + "/version.log").str(), [&] {
                     cleanup();
                     if (options.onSignal)
                       options.onSignal();
                   });
  for (const std::string &f : parallelFlags(options.cuda, gcc, options.jobs))
    args.push_back(f);
  for (const std::string &f : options.flags)
    args.push_back(f);
  args.insert(args.end(), {cpp, "-o", temp});
  if (options.verbose) {
    for (const std::string &a : args)
      std::cerr << a << " ";
    std::cerr << "\n";
  }
  // The compiler runs in its own process group: a signal to rnc ends it and
  // all its children (cc1plus, as, ld; nvcc's ptxas, fatbinary), then the
  // files above are removed and rnc dies of the same signal.
  int logFd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0600);
  if (logFd < 0) {
    error = log + ": cannot write the compiler log";
    cleanup();
    return false;
  }
  ChildResult run = runChild(args, logFd, [&] {
    cleanup();
    if (options.onSignal)
      options.onSignal();
  });
  ::close(logFd);
  if (run.status != 0) {
    std::string text;
    if (auto buf = llvm::MemoryBuffer::getFile(log))
      text = (*buf)->getBuffer().str();
    error = std::string(options.cuda ? "nvcc" : "the C++ compiler") +
            " failed (" +
            (run.status < 0 ? run.error : "exit " + std::to_string(run.status)) +
            "): " + firstError(text);
    cleanup();
    return false;
  }
  // The integrity record rnc-run checks before it loads the model.
  if (std::string why = stampModelFile(temp); !why.empty()) {
    error = temp + ": cannot record the model's digest: " + why;
    cleanup();
    return false;
  }
  if (std::string why = replaceFile(temp, output); !why.empty()) {
    error = output + ": cannot write: " + why;
    cleanup();
    return false;
  }
  cleanup();
  return true;
}

} // namespace rnc::codegen
