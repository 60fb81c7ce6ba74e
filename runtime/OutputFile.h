// OutputFile: the one policy every file rnc writes follows (docs/promises.md).
//
// A command first names its inputs and outputs in an OutputSet and claims it
// before doing any work: an output must not be a symbolic link, device, FIFO,
// socket or folder, its folder must exist and be writable, it must be none
// of the inputs (nor inside an input folder) nor another output, and no
// other rnc process may be writing it (a lock, held until the set is gone).
// /dev/null is the one exception, where a command allows it: output there
// is discarded.
// Every write then goes to a unique temporary name next to the output, is
// fsync'ed and renamed over it: a reader, a crash or a kill sees the old or
// the new contents whole, and nothing is truncated before the new contents
// are complete.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rnc {

/// Why `path` cannot be an output, or "" when it can: an existing path must
/// be a regular file (not a symbolic link, device, FIFO, socket or folder);
/// the folder it is in must exist and be writable.
std::string outputPathProblem(const std::string &path);

/// True when `path` is /dev/null (or another name of that device). Output
/// there is discarded: it is the one device rnc "writes".
bool isNullDevice(const std::string &path);

/// True when `path` is the file `input` (the same device and inode, or the
/// same absolute path), or lies inside `input` when that is a folder.
bool isOrIsInside(const std::string &path, const std::string &input);

/// The inputs and outputs of one command (see the file comment).
class OutputSet {
public:
  OutputSet();
  ~OutputSet(); // releases the locks
  OutputSet(const OutputSet &) = delete;
  OutputSet &operator=(const OutputSet &) = delete;

  /// A file or folder the command reads; `what` names it in errors
  /// ("the model", "--data").
  void addInput(const std::string &path, const std::string &what);
  /// A file the command writes; `what` names the flag ("--metrics").
  /// `mayBeInput` is the one input it may be (--checkpoint = --resume: the
  /// file is read whole before it is rewritten). A `discardable` output may
  /// be /dev/null (text a user may throw away: rnc -o, rnc-opt -o); other
  /// outputs there are refused like any device (a checkpoint's .best file
  /// would otherwise land in /dev).
  void addOutput(const std::string &path, const std::string &what,
                 const std::string &mayBeInput = "", bool discardable = false);
  /// Checks every output and takes its lock; removes temporary files that
  /// writers killed earlier left next to it. Returns "" or a one-line error
  /// naming the file, the flag and the reason.
  std::string claim();
  /// claim(), throwing std::runtime_error on an error.
  void claimOrThrow();
  /// Releases the locks now (before a signal ends the process, which would
  /// skip the destructor).
  void release();

private:
  struct Entry {
    std::string path, what, mayBe;
    bool discardable = false;
  };
  struct Lock;
  std::vector<Entry> inputs_, outputs_;
  std::vector<std::unique_ptr<Lock>> locks_;
};

/// Writes `path` atomically: `write(fd)` fills a new file under a unique
/// temporary name next to `path` (returning false on a failed write, errno
/// set); it is fsync'ed and renamed over `path`, and the folder is fsync'ed.
/// A `path` that is not a regular file is refused and left alone. On failure
/// the temporary file is removed and "<path>: cannot write <what>: <reason>"
/// is returned; "" on success.
std::string tryWriteFileAtomically(const std::string &path,
                                   const std::string &what,
                                   const std::function<bool(int fd)> &write);
/// The same, throwing std::runtime_error with that message.
void writeFileAtomically(const std::string &path, const std::string &what,
                         const std::function<bool(int fd)> &write);

/// A name for a temporary file next to `path` that no other process uses:
/// "<path>.partial.<pid>.<n>". claim() removes the ones killed writers left.
std::string temporaryNameFor(const std::string &path);

/// Renames the finished file `temp` over `path` under the same policy as
/// tryWriteFileAtomically (fsync of the file and folder, a non-regular
/// `path` refused). Removes `temp` on failure. Returns "" or the reason.
std::string replaceFile(const std::string &temp, const std::string &path);

/// Writes all of [data, data + n) to fd, retrying short writes.
bool writeAll(int fd, const void *data, size_t n);

} // namespace rnc
