// Subprocess: running a compiler as a child that a signal to rnc cannot
// orphan. The child gets its own process group; a termination signal that
// reaches rnc while it waits ends the whole group, removes the caller's
// temporary files and then ends rnc with the same signal.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace rnc {

struct ChildResult {
  int status = -1;   // the exit status, 128 + the signal that killed it, or
                     // -1 when it could not be started
  std::string error; // why it could not be started
};

/// Runs argv[0] (a path, not searched in PATH) with `argv`, stdin from
/// /dev/null, stdout and stderr to `outputFd` (inherited when -1), in a
/// process group of its own. SIGINT, SIGTERM, SIGHUP and SIGQUIT (those not
/// ignored) arriving meanwhile: SIGTERM to the child's group (SIGKILL after
/// 2 s), `onSignal()` (remove temporary files; async-signal safety is not
/// needed, it runs in the normal flow), then the signal is raised again with
/// its default action.
ChildResult runChild(const std::vector<std::string> &argv, int outputFd,
                     const std::function<void()> &onSignal);

} // namespace rnc
