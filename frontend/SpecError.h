// SpecError: a user-facing error in a model spec, with the JSON path it is about.
#pragma once

#include <stdexcept>
#include <string>

namespace rnc::spec {

/// Thrown for any problem with a model spec. `path` is a JSON path into the
/// spec ("stages[2].groups"), empty when the problem concerns the whole file.
/// The driver formats it as `<file>: <path>: <message>` on one line.
class SpecError : public std::runtime_error {
public:
  SpecError(std::string path, std::string message)
      : std::runtime_error(message), path_(std::move(path)) {}
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

/// `file: path: message` (the path part omitted when empty).
std::string formatSpecError(const std::string &file, const SpecError &err);

} // namespace rnc::spec
