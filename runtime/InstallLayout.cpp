// Where the tools find kernel headers and model specs (see InstallLayout.h).
#include "runtime/InstallLayout.h"

#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>

namespace rnc {

namespace fs = std::filesystem;

namespace {

bool isRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// True when the running tool is one of the build folder's (RNC_BUILD_BIN_DIR,
// baked in at build time), which may use the source tree.
bool inBuildTree() {
  std::error_code ec;
  const std::string self = executableDir();
  return !self.empty() &&
         fs::equivalent(self, RNC_BUILD_BIN_DIR, ec) && !ec;
}

// <exe>/../<rel>, normalized; "" when the executable's folder is unknown.
std::string besideExecutable(const std::string &rel) {
  const std::string self = executableDir();
  if (self.empty())
    return "";
  return (fs::path(self).parent_path() / rel).lexically_normal().string();
}

} // namespace

std::string executableDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.parent_path().string();
}

std::string kernelIncludeDir(std::string &error) {
  if (const char *dir = std::getenv("RNC_INCLUDE_DIR"); dir && *dir)
    return dir;
  const std::string installed = besideExecutable("include/rnc");
  if (!installed.empty() && isRegularFile(installed + "/kernels/init.h"))
    return installed;
  if (inBuildTree() && isRegularFile(std::string(RNC_SOURCE_DIR) +
                                     "/kernels/init.h"))
    return RNC_SOURCE_DIR;
  error = "cannot find the kernel headers a model is compiled with: no " +
          (installed.empty() ? std::string("<prefix>/include/rnc")
                             : installed) +
          "/kernels/init.h (install rnc with `cmake --install`, or set "
          "RNC_INCLUDE_DIR to the folder that holds kernels/)";
  return "";
}

std::string modelsDir() {
  const std::string installed = besideExecutable("share/rnc/models");
  if (!installed.empty() && isDirectory(installed))
    return installed;
  if (inBuildTree() && isDirectory(std::string(RNC_SOURCE_DIR) + "/models"))
    return std::string(RNC_SOURCE_DIR) + "/models";
  return "";
}

std::string findModelSpec(const std::string &arg, std::string &error) {
  if (isRegularFile(arg))
    return arg;
  if (arg.empty() || arg.find('/') != std::string::npos) {
    error = arg + ": no such spec file";
    return "";
  }
  std::string name = arg;
  if (fs::path(name).extension() != ".json")
    name += ".json";
  const std::string dir = modelsDir();
  if (dir.empty()) {
    error = "no model '" + arg + "': not a file, and no shipped models "
            "folder (<prefix>/share/rnc/models) next to this tool";
    return "";
  }
  const std::string shipped = dir + "/" + name;
  if (isRegularFile(shipped))
    return shipped;
  error = "no model '" + arg + "': not a file, and no " + shipped;
  return "";
}

} // namespace rnc
