// Builds generated C++ into a shared object with the system compiler.
#ifndef RNC_CODEGEN_BUILDSHAREDOBJECT_H
#define RNC_CODEGEN_BUILDSHAREDOBJECT_H

#include <string>
#include <vector>

namespace rnc::codegen {

struct BuildOptions {
  std::string compiler;            // "" = $CXX, else c++
  std::vector<std::string> flags;  // appended after the default flags
  std::string keepSource;          // if set, also write the C++ here
  bool verbose = false;            // print the compiler command
};

/// The default flags: -std=c++20 -O3 -march=native -fopenmp -fPIC -shared
/// -fvisibility=hidden and the include path of rnc's kernel headers
/// ($RNC_INCLUDE_DIR, else the source tree rnc was built from).
std::vector<std::string> defaultCompileFlags();

/// Compiles `source` into `output`, atomically: the object is built under a
/// temporary name next to `output` and renamed, so a failed or interrupted
/// build leaves any previous `output` intact. Returns false and sets `error`
/// to one line (with the compiler's first error) on failure.
bool buildSharedObject(const std::string &source, const std::string &output,
                       const BuildOptions &options, std::string &error);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_BUILDSHAREDOBJECT_H
