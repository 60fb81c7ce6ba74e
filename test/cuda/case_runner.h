// Runs named test cases so that one fault hides nothing: each run of cases
// is a child process; a case that dies (a lost CUDA context, a signal) or
// hangs past the timeout becomes one CRASH line and the next child goes on
// with the case after it. Host code only: the parent never touches CUDA, so
// forking is safe. Used by kernels_test.cu; tested in
// test/cudamock/CaseRunnerTest.cpp.
//
//   PROGRAM [--list] [--no-fork] [--case-timeout S] [FILTER...]
//
// FILTERs pick the cases whose name contains one of them; --no-fork runs
// them all in this process (for compute-sanitizer). Exit status: 0 all
// pass, 1 a failure or crash, 2 bad arguments, or what `begin` returned
// (77: no GPU).
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "test/cuda/test_util.h"

namespace ct {

struct Case {
  std::string name;
  std::function<void(Report &)> run;
};

struct CaseHooks {
  // In the process that runs cases, before the first: 0 to go on, else the
  // exit status (77 after printing a SKIPPED line). `first` is true for the
  // first process only (print the device once).
  std::function<int(bool first)> begin = [](bool) { return 0; };
  std::function<void()> end = [] {};
};

// Exit status a case uses when its process cannot go on (a sticky CUDA
// error): the runner reports it and starts a new process after it.
constexpr int kContextLost = 3;

// Runs cases sel[from..] here; with `fd` >= 0 reports each start ("S k") and
// end ("E k failures checks") there, for the parent.
inline int run_cases(const std::vector<Case> &all,
                     const std::vector<size_t> &sel, size_t from, int fd,
                     unsigned timeout, const CaseHooks &hooks) {
  if (int rc = hooks.begin(from == 0))
    return rc;
  Report report;
  for (size_t k = from; k < sel.size(); ++k) {
    const Case &c = all[sel[k]];
    std::printf("== %s\n", c.name.c_str());
    std::fflush(stdout);
    if (fd >= 0)
      dprintf(fd, "S %zu\n", k);
    alarm(timeout);
    const int f0 = report.failures, c0 = report.checks;
    c.run(report);
    alarm(0);
    std::fflush(stdout);
    if (fd >= 0)
      dprintf(fd, "E %zu %d %d\n", k, report.failures - f0,
              report.checks - c0);
  }
  hooks.end();
  if (fd < 0)
    std::printf("%d of %d checks failed\n", report.failures, report.checks);
  return report.failures == 0 ? 0 : 1;
}

inline std::string crash_reason(int status, unsigned timeout) {
  if (WIFSIGNALED(status))
    return WTERMSIG(status) == SIGALRM
               ? "timed out after " + std::to_string(timeout) + " s"
               : std::string("killed by ") + strsignal(WTERMSIG(status));
  if (WEXITSTATUS(status) == kContextLost)
    return "CUDA context lost (a sticky error)";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

// Runs the cases in child processes, a new one after each that dies.
inline int run_forked(const std::vector<Case> &all,
                      const std::vector<size_t> &sel, unsigned timeout,
                      const CaseHooks &hooks) {
  int failures = 0, checks = 0;
  size_t crashed = 0, from = 0;
  while (from < sel.size()) {
    int p[2];
    if (pipe(p) != 0) {
      std::perror("pipe");
      return 1;
    }
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      close(p[0]);
      int rc = run_cases(all, sel, from, p[1], timeout, hooks);
      std::fflush(stdout);
      _exit(rc);
    }
    close(p[1]);
    long started = -1, ended = -1;
    FILE *in = fdopen(p[0], "r");
    char line[128];
    while (std::fgets(line, sizeof line, in)) {
      long k;
      int f, c;
      if (std::sscanf(line, "S %ld", &k) == 1)
        started = k;
      else if (std::sscanf(line, "E %ld %d %d", &k, &f, &c) == 3) {
        ended = k;
        failures += f;
        checks += c;
      }
    }
    std::fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    if (started < 0 && WIFEXITED(status) && WEXITSTATUS(status) > 1)
      return WEXITSTATUS(status); // `begin` said no (77: no GPU)
    if (started >= 0 && started != ended) { // died inside case `started`
      std::printf("CRASH %s: %s; the cases after it run in a new process\n",
                  all[sel[size_t(started)]].name.c_str(),
                  crash_reason(status, timeout).c_str());
      ++crashed;
      ++failures;
      ++checks;
      from = size_t(started) + 1;
      continue;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
      std::printf("CRASH after the last case: %s\n",
                  crash_reason(status, timeout).c_str());
      ++failures;
    }
    break;
  }
  std::printf("%d of %d checks failed (%zu cases, %zu crashed)\n", failures,
              checks, sel.size(), crashed);
  return failures == 0 ? 0 : 1;
}

inline int case_main(int argc, char **argv, const std::vector<Case> &all,
                     const CaseHooks &hooks = {}) {
  bool list = false, fork_cases = true;
  unsigned timeout = 120;
  std::vector<std::string> filters;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--list")
      list = true;
    else if (a == "--no-fork")
      fork_cases = false;
    else if (a == "--case-timeout" && i + 1 < argc)
      timeout = unsigned(std::atoi(argv[++i]));
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr,
                   "usage: %s [--list] [--no-fork] [--case-timeout S] "
                   "[FILTER...]\n",
                   argv[0]);
      return 2;
    } else
      filters.push_back(a);
  }
  std::vector<size_t> sel;
  for (size_t i = 0; i < all.size(); ++i) {
    bool match = filters.empty();
    for (const std::string &f : filters)
      match |= all[i].name.find(f) != std::string::npos;
    if (match)
      sel.push_back(i);
  }
  if (list) {
    for (size_t i : sel)
      std::printf("%s\n", all[i].name.c_str());
    return 0;
  }
  if (sel.empty()) {
    std::fprintf(stderr, "%s: no case matches the filters (see --list)\n",
                 argv[0]);
    return 2;
  }
  return fork_cases ? run_forked(all, sel, timeout, hooks)
                    : run_cases(all, sel, 0, -1, timeout, hooks);
}

} // namespace ct
