// Subprocess: a child in its own process group, ended with rnc (Subprocess.h).
#include "runtime/Subprocess.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace rnc {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

int statusOf(int raw) {
  if (WIFSIGNALED(raw))
    return 128 + WTERMSIG(raw);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

// Waits up to `ms` for `pid` to exit; true when it was reaped.
bool reapWithin(pid_t pid, int ms) {
  for (int waited = 0;; waited += 20) {
    int raw;
    pid_t w = ::waitpid(pid, &raw, WNOHANG);
    if (w == pid || (w < 0 && errno == ECHILD))
      return true;
    if (waited >= ms)
      return false;
    ::usleep(20000);
  }
}

// Ends the child's process group: SIGTERM, then SIGKILL for what is left
// (grandchildren included, once the leader is gone too).
void endGroup(pid_t pid) {
  ::kill(-pid, SIGTERM);
  if (!reapWithin(pid, 2000)) {
    ::kill(-pid, SIGKILL);
    reapWithin(pid, 60000);
  }
  ::kill(-pid, SIGKILL);
}

} // namespace

ChildResult runChild(const std::vector<std::string> &argv, int outputFd,
                     const std::function<void()> &onSignal) {
  ChildResult result;
  // The signals to act on: those whose action is not "ignore" (nohup).
  sigset_t watched, old;
  sigemptyset(&watched);
  for (int sig : kStopSignals) {
    struct sigaction current;
    if (::sigaction(sig, nullptr, &current) == 0 &&
        current.sa_handler != SIG_IGN)
      sigaddset(&watched, sig);
  }
  sigset_t blocked = watched;
  sigaddset(&blocked, SIGCHLD); // wakes the wait below when the child ends
  ::pthread_sigmask(SIG_BLOCK, &blocked, &old);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &old);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : kStopSignals)
    if (sigismember(&watched, sig))
      sigaddset(&defaults, sig);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  if (outputFd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDERR_FILENO);
  }
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    result.error = std::strerror(rc);
    return result;
  }

  for (;;) {
    int raw;
    pid_t w = ::waitpid(pid, &raw, WNOHANG);
    if (w == pid) {
      result.status = statusOf(raw);
      break;
    }
    if (w < 0 && errno != EINTR) {
      result.error = std::strerror(errno);
      break;
    }
    struct timespec tick = {0, 100 * 1000 * 1000};
    int sig = ::sigtimedwait(&blocked, nullptr, &tick);
    if (sig > 0 && sig != SIGCHLD) {
      endGroup(pid);
      if (onSignal)
        onSignal();
      // Die of the same signal, as without the child.
      ::signal(sig, SIG_DFL);
      sigset_t just;
      sigemptyset(&just);
      sigaddset(&just, sig);
      ::raise(sig);
      ::pthread_sigmask(SIG_UNBLOCK, &just, nullptr);
      result.error = "interrupted by signal " + std::to_string(sig);
      result.status = 128 + sig;
      break;
    }
  }
  // A kill that came with the child's end: treat it as above next time it
  // is unblocked (the default action).
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return result;
}

} // namespace rnc
