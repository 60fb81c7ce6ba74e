// DataError: a user-facing problem with a data file, reported as `<file>: <what>`.
#pragma once

#include <stdexcept>
#include <string>

namespace rnc::data {

/// Thrown for anything wrong with a data file: missing, unreadable, corrupt,
/// or holding arrays that do not fit together. `what()` is one line,
/// `<file>: <problem>`, ready for the caller to print as it is.
class DataError : public std::runtime_error {
public:
  DataError(const std::string &file, const std::string &problem)
      : std::runtime_error(file + ": " + problem), file_(file),
        problem_(problem) {}
  const std::string &file() const { return file_; }
  const std::string &problem() const { return problem_; }

private:
  std::string file_;
  std::string problem_;
};

} // namespace rnc::data
