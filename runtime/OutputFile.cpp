// OutputFile: checks, locks and atomic writes of rnc's outputs (see OutputFile.h).
#include "runtime/OutputFile.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rnc {

namespace {

constexpr const char *kLockTag = "rnc lock";

std::string folderOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What kind of file `mode` is, for "is a ..." messages.
const char *kindOf(mode_t mode) {
  if (S_ISLNK(mode))
    return "a symbolic link";
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

// The absolute path of `path` with symbolic links of the folders resolved
// (and of `path` itself when it exists), for comparing paths that may not
// exist yet.
std::string canonical(const std::string &path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf))
    return buf;
  if (::realpath(folderOf(path).c_str(), buf))
    return std::string(buf) + (std::strcmp(buf, "/") ? "/" : "") + baseOf(path);
  if (!path.empty() && path[0] == '/')
    return path;
  if (::getcwd(buf, sizeof buf))
    return std::string(buf) + "/" + path;
  return path;
}

bool isDigits(const std::string &s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Temporary files a killed writer of `path` left behind: "<base>.partial"
// (older rnc) and "<base>.partial.<pid>.<n>". Called with the lock held, so
// no live writer owns them.
void removeStalePartials(const std::string &path) {
  const std::string dir = folderOf(path), prefix = baseOf(path) + ".partial";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    std::string rest = name.substr(prefix.size());
    size_t dot = rest.find('.', 1);
    bool ours = rest.empty() ||
                (rest[0] == '.' && dot != std::string::npos &&
                 isDigits(rest.substr(1, dot - 1)) &&
                 isDigits(rest.substr(dot + 1)));
    std::string full = dir + "/" + name;
    struct stat st;
    if (ours && ::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      ::unlink(full.c_str());
  }
  ::closedir(d);
}

bool isFolder(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Files to remove when a signal ends the process (locks, temporary files of
// a write in progress), so that Ctrl-C leaves nothing behind. The handler
// only calls unlink, signal and raise (async-signal-safe) on paths copied
// here beforehand.
class SignalCleanup {
public:
  static SignalCleanup &get() {
    static SignalCleanup instance;
    return instance;
  }
  // A slot for `path`, or -1 when all are taken (the file then stays, and
  // the next writer of that output removes it).
  int add(const std::string &path) {
    install();
    if (path.size() >= PATH_MAX)
      return -1;
    for (int i = 0; i < kSlots; ++i)
      if (!used_[i]) {
        std::memcpy(paths_[i], path.c_str(), path.size() + 1);
        used_[i] = 1;
        return i;
      }
    return -1;
  }
  void remove(int slot) {
    if (slot >= 0)
      used_[slot] = 0;
  }

private:
  static constexpr int kSlots = 32;
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

  static void onSignal(int sig) {
    SignalCleanup &c = get();
    for (int i = 0; i < kSlots; ++i)
      if (c.used_[i])
        ::unlink(c.paths_[i]);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
  // Only where the signal's action is still the default: a handler the
  // program set, or "ignore" (nohup), is left alone.
  void install() {
    if (installed_)
      return;
    installed_ = true;
    for (int sig : kSignals) {
      struct sigaction old;
      if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
        ::signal(sig, onSignal);
    }
  }
  char paths_[kSlots][PATH_MAX] = {};
  volatile sig_atomic_t used_[kSlots] = {};
  bool installed_ = false;
};

void syncFolder(const std::string &path) {
  int dir = ::open(folderOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

} // namespace

bool isNullDevice(const std::string &path) {
  struct stat st, null;
  return ::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) &&
         ::stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev;
}

bool writeAll(int fd, const void *data, size_t n) {
  const char *p = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

std::string outputPathProblem(const std::string &path) {
  if (path.empty())
    return "an empty file name";
  if (path.back() == '/')
    return "a directory name, not a file name";
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode))
      return "it is a symbolic link; rnc replaces files, never links: give "
             "the file it points to";
    if (!S_ISREG(st.st_mode))
      return std::string("it is ") + kindOf(st.st_mode) +
             ", not a regular file; rnc writes only regular files";
    if (::access(path.c_str(), W_OK) != 0 && errno == EACCES)
      return "it is read-only";
  } else if (errno != ENOENT) {
    return std::strerror(errno);
  }
  const std::string dir = folderOf(path);
  if (::stat(dir.c_str(), &st) != 0)
    return std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return std::strerror(ENOTDIR);
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return std::string("its folder ") + dir + " is not writable";
  return "";
}

bool isOrIsInside(const std::string &path, const std::string &input) {
  struct stat a, b;
  bool outExists = ::stat(path.c_str(), &a) == 0;
  bool inExists = ::stat(input.c_str(), &b) == 0;
  if (outExists && inExists && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return true;
  std::string out = canonical(path), in = canonical(input);
  if (out == in)
    return true;
  if (inExists && S_ISDIR(b.st_mode)) {
    std::string prefix = in == "/" ? in : in + "/";
    return out.compare(0, prefix.size(), prefix) == 0;
  }
  return false;
}

// The lock on one output: an flock on "<path>.lock", which holds the pid of
// its owner. The file is removed when the lock is released; one left by a
// killed process is unlocked and is taken over.
struct OutputSet::Lock {
  std::string path;
  int fd = -1;
  int cleanupSlot = -1;
  ~Lock() {
    if (fd >= 0) {
      ::unlink(path.c_str());
      ::close(fd);
    }
    SignalCleanup::get().remove(cleanupSlot);
  }

  // "" when taken, else the reason.
  std::string take() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
                                    O_NONBLOCK,
                  0644);
      if (fd < 0)
        return path + ": " + std::strerror(errno) +
               (errno == ELOOP ? " (a symbolic link)" : "");
      struct stat st;
      char text[64] = {};
      ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
      if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
          (st.st_size > 0 &&
           (n < 0 || std::strncmp(text, kLockTag, std::strlen(kLockTag)))))
        return release(path + " exists and is not an rnc lock file; "
                              "remove it if no rnc process runs");
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        // "rnc lock pid 1234": the owner, when it has written it yet.
        std::string owner = n > 0 ? std::string(text) : "";
        while (!owner.empty() && owner.back() == '\n')
          owner.pop_back();
        size_t tag = std::strlen(kLockTag) + 1;
        return release("another process is writing it (" +
                       (owner.size() > tag ? owner.substr(tag) + " holds "
                                           : std::string("lock ")) +
                       path + ")");
      }
      // The lock file may have been removed by its previous owner between
      // our open and flock; then lock the new one.
      struct stat now;
      if (::stat(path.c_str(), &now) != 0 || now.st_ino != st.st_ino ||
          now.st_dev != st.st_dev) {
        ::close(fd);
        fd = -1;
        continue;
      }
      std::string tag = std::string(kLockTag) + " pid " +
                        std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || !writeAll(fd, tag.data(), tag.size()))
        return release(path + ": " + std::strerror(errno));
      cleanupSlot = SignalCleanup::get().add(path);
      return "";
    }
    return path + ": the lock file keeps being replaced";
  }

  std::string release(const std::string &why) {
    ::close(fd);
    fd = -1;
    return why;
  }
};

OutputSet::OutputSet() = default;
OutputSet::~OutputSet() = default;

void OutputSet::addInput(const std::string &path, const std::string &what) {
  if (!path.empty())
    inputs_.push_back({path, what, "", false});
}

void OutputSet::addOutput(const std::string &path, const std::string &what,
                          const std::string &mayBeInput, bool discardable) {
  outputs_.push_back({path, what, mayBeInput, discardable});
}

std::string OutputSet::claim() {
  // Output to /dev/null, where allowed, is discarded: no file to check or
  // lock.
  outputs_.erase(std::remove_if(outputs_.begin(), outputs_.end(),
                                [](const Entry &o) {
                                  return o.discardable && isNullDevice(o.path);
                                }),
                 outputs_.end());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const Entry &o = outputs_[i];
    auto fail = [&](const std::string &why) {
      locks_.clear();
      return o.path + ": cannot write " + o.what + ": " + why;
    };
    if (std::string why = outputPathProblem(o.path); !why.empty())
      return fail(why);
    for (const Entry &in : inputs_)
      if (!(o.mayBe == in.path) && isOrIsInside(o.path, in.path))
        return fail(isFolder(in.path)
                        ? "it is inside " + in.what + " (" + in.path +
                              "); give a file elsewhere"
                        : "it is " + in.what + " (" + in.path +
                              "); give another file");
    for (size_t j = 0; j < i; ++j)
      if (isOrIsInside(o.path, outputs_[j].path))
        return fail("it is also " + outputs_[j].what +
                    "; give them different files");
  }
  for (const Entry &o : outputs_) {
    auto lock = std::make_unique<Lock>();
    lock->path = o.path + ".lock";
    if (std::string why = lock->take(); !why.empty()) {
      locks_.clear();
      return o.path + ": cannot write " + o.what + ": " + why;
    }
    removeStalePartials(o.path);
    locks_.push_back(std::move(lock));
  }
  return "";
}

void OutputSet::release() { locks_.clear(); }

void OutputSet::claimOrThrow() {
  if (std::string error = claim(); !error.empty())
    throw std::runtime_error(error);
}

std::string temporaryNameFor(const std::string &path) {
  static std::atomic<unsigned> counter{0};
  return path + ".partial." + std::to_string(::getpid()) + "." +
         std::to_string(counter++);
}

std::string replaceFile(const std::string &temp, const std::string &path) {
  auto fail = [&](const std::string &why) {
    ::unlink(temp.c_str());
    return why;
  };
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return fail(S_ISLNK(st.st_mode)
                      ? "it is a symbolic link; rnc replaces files, never "
                        "links: give the file it points to"
                      : std::string("it is ") + kindOf(st.st_mode) +
                            ", not a regular file; rnc writes only regular "
                            "files");
    // The new file keeps the permissions of the one it replaces.
    ::chmod(temp.c_str(), st.st_mode & 07777);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return fail(std::strerror(errno));
  // The rename itself reaches the disk with the folder's metadata.
  syncFolder(path);
  return "";
}

std::string tryWriteFileAtomically(const std::string &path,
                                   const std::string &what,
                                   const std::function<bool(int fd)> &write) {
  auto message = [&](const std::string &why) {
    return path + ": cannot write" + (what.empty() ? "" : " " + what) + ": " +
           why;
  };
  if (isNullDevice(path))
    return "";
  std::string temp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    temp = temporaryNameFor(path);
    fd = ::open(temp.c_str(),
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST)
      return message(std::strerror(errno));
  }
  if (fd < 0)
    return message("no free temporary name next to it");
  // Removed if a signal ends the process during the write; after the
  // rename the name is gone and the unlink finds nothing.
  struct Forget {
    int slot;
    ~Forget() { SignalCleanup::get().remove(slot); }
  } forget{SignalCleanup::get().add(temp)};
  int err = 0;
  errno = 0;
  if (!write(fd) || ::fsync(fd) != 0)
    err = errno ? errno : EIO;
  if (::close(fd) != 0 && !err)
    err = errno;
  if (err) {
    ::unlink(temp.c_str());
    return message(std::strerror(err));
  }
  if (std::string why = replaceFile(temp, path); !why.empty())
    return message(why);
  return "";
}

void writeFileAtomically(const std::string &path, const std::string &what,
                         const std::function<bool(int fd)> &write) {
  if (std::string error = tryWriteFileAtomically(path, what, write);
      !error.empty())
    throw std::runtime_error(error);
}

} // namespace rnc
