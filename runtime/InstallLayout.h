// InstallLayout: where rnc's tools find the kernel headers a generated model
// includes and the shipped model specs.
//
// An installed tool (`cmake --install build --prefix P`) looks next to itself:
// P/bin/rnc finds P/include/rnc/kernels/... and P/share/rnc/models/*.json.
// A tool run from the build folder (build/bin) uses the source tree it was
// built from. Nothing else: an installed rnc never reads the source tree, so
// it keeps working when that is deleted. $RNC_INCLUDE_DIR overrides the
// headers' folder (a cross-compiling set-up, a test).
#pragma once

#include <string>

namespace rnc {

/// The folder of the running executable ("" when /proc/self/exe is unknown).
std::string executableDir();

/// The folder to pass as -I to compile a generated model: it holds
/// kernels/ and runtime/rnc_abi.h. "" with `error` set when there is none.
std::string kernelIncludeDir(std::string &error);

/// The folder of the shipped model specs (models/*.json); "" when none.
std::string modelsDir();

/// The spec `arg` names: an existing file, or for a bare name ("resnet18",
/// "resnet18.json") the shipped spec of that name. "" with `error` set (one
/// line: what was looked for, and where) when neither exists.
std::string findModelSpec(const std::string &arg, std::string &error);

} // namespace rnc
