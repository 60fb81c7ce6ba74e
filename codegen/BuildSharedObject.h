// Builds generated code into a shared object: C++ with the system compiler
// (target cpu), CUDA C++ with nvcc (target cuda).
#ifndef RNC_CODEGEN_BUILDSHAREDOBJECT_H
#define RNC_CODEGEN_BUILDSHAREDOBJECT_H

#include <functional>
#include <string>
#include <vector>

namespace rnc::codegen {

struct BuildOptions {
  bool cuda = false;               // nvcc instead of the C++ compiler
  std::string compiler;            // "" = $CXX, else c++ (cuda: the nvcc
                                   // of nvccPath())
  std::vector<std::string> cudaArchs = {"80", "90a"}; // sm_XX to build for
  std::string march = "native";    // cpu: -march (the CPU to build for)
  std::vector<std::string> flags;  // appended after the default flags
  std::string keepSource;          // if set, also write the C++ here
  bool verbose = false;            // print the compiler command
  int jobs = 1;                    // compiler processes that may run at
                                   // once (parallelFlags)
  std::function<void()> onSignal;  // runs when a signal ends the build, after
                                   // its own files are removed (release locks)
};

/// The default flags: -std=c++20 -O3 -march=<march> -fopenmp -fPIC -shared
/// -fvisibility=hidden and the include path of rnc's kernel headers
/// (runtime/InstallLayout.h: $RNC_INCLUDE_DIR, <prefix>/include/rnc of an
/// installed rnc, or the source tree of a build folder's rnc).
std::vector<std::string> defaultCompileFlags(const std::string &march);

/// nvcc's flags for `archs` (e.g. "80", "90a"): -std=c++20 -O3, one
/// -gencode per arch (SASS, plus PTX of the newest for later GPUs), host code
/// as the C++ flags build it, and rnc's include path.
std::vector<std::string> cudaCompileFlags(const std::vector<std::string> &archs);

/// The flags that let one build use `jobs` cores (none when jobs <= 1).
/// cuda: nvcc's --threads, which compiles the architectures side by side
/// (each one's code is exactly what a serial build makes). cpu, with g++:
/// -flto=<jobs>, which splits the generated file's code generation into
/// partitions compiled in parallel at link time (the whole model is still
/// one translation unit to the optimizer: the same inlining and, with ISO
/// C++'s -ffp-contract=off, the same arithmetic). clang gets none (its
/// parallel LTO needs a linker we do not require).
std::vector<std::string> parallelFlags(bool cuda, bool gcc, int jobs);

/// The number of CPUs this process may run on (its affinity mask), at least 1.
int availableCpus();

/// The nvcc to use: $RNC_NVCC, else /usr/local/cuda/bin/nvcc, else nvcc on
/// PATH; "" when none exists.
std::string nvccPath();

/// Compiles `source` into `output`, atomically: the object is built under a
/// temporary name next to `output`, given its integrity record
/// (runtime/ModelStamp.h) and renamed, so a failed or interrupted build
/// leaves any previous `output` intact. The compiler runs in a process group
/// of its own (runtime/Subprocess.h): a termination signal ends it with all
/// its children and removes the build folder and the temporary file. Returns false and sets `error`
/// to one line (with the compiler's first error) on failure.
bool buildSharedObject(const std::string &source, const std::string &output,
                       const BuildOptions &options, std::string &error);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_BUILDSHAREDOBJECT_H
