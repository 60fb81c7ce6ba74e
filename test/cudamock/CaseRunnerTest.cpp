// The case runner of the CUDA kernel tests (test/cuda/case_runner.h): a case
// that loses its process (a sticky CUDA error), dies of a signal or hangs is
// one CRASH line, and every case after it still runs. Host only: the cases
// here fail on purpose instead of on a GPU.
#include <csignal>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "test/cuda/case_runner.h"

namespace {

std::vector<ct::Case> cases() {
  return {
      {"passes", [](ct::Report &r) { r.expect("one", true); }},
      {"fails", [](ct::Report &r) { r.expect("two", false); }},
      {"loses its context", [](ct::Report &) { std::exit(ct::kContextLost); }},
      {"faults", [](ct::Report &) { std::raise(SIGSEGV); }},
      {"hangs", [](ct::Report &) { sleep(30); }},
      {"runs after all that", [](ct::Report &r) { r.expect("three", true); }},
  };
}

int run(std::vector<std::string> args, std::string &out,
        const ct::CaseHooks &hooks = {}) {
  std::vector<char *> argv = {const_cast<char *>("runner")};
  for (std::string &a : args)
    argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  int rc = ct::case_main(int(argv.size()), argv.data(), cases(), hooks);
  out = ::testing::internal::GetCapturedStdout();
  return rc;
}

TEST(CaseRunner, EveryCaseRunsAfterACrash) {
  std::string out;
  EXPECT_EQ(run({"--case-timeout", "1"}, out), 1);
  EXPECT_NE(out.find("FAIL two"), std::string::npos) << out;
  EXPECT_NE(out.find("CRASH loses its context: CUDA context lost (a sticky "
                     "error); the cases after it run in a new process"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("CRASH faults: killed by Segmentation fault"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("CRASH hangs: timed out after 1 s"), std::string::npos)
      << out;
  EXPECT_NE(out.find("ok   three"), std::string::npos) << out;
  EXPECT_NE(out.find("4 of 6 checks failed (6 cases, 3 crashed)"),
            std::string::npos)
      << out;
}

TEST(CaseRunner, FiltersPickCasesByName) {
  std::string out;
  EXPECT_EQ(run({"passes", "after"}, out), 0);
  EXPECT_EQ(out.find("== fails"), std::string::npos) << out;
  EXPECT_NE(out.find("0 of 2 checks failed (2 cases, 0 crashed)"),
            std::string::npos)
      << out;
  EXPECT_EQ(run({"--list", "fault"}, out), 0);
  EXPECT_EQ(out, "faults\n");
  EXPECT_EQ(run({"no such case"}, out), 2);
  EXPECT_EQ(run({"--bogus"}, out), 2);
}

TEST(CaseRunner, NoForkRunsInThisProcess) {
  std::string out;
  EXPECT_EQ(run({"--no-fork", "passes"}, out), 0);
  EXPECT_NE(out.find("0 of 1 checks failed"), std::string::npos) << out;
}

// begin() says there is no GPU: its status, and no case runs.
TEST(CaseRunner, BeginCanSkipEverything) {
  std::string out;
  ct::CaseHooks hooks;
  hooks.begin = [](bool) {
    std::printf("SKIPPED: no CUDA GPU (test)\n");
    return 77;
  };
  EXPECT_EQ(run({}, out, hooks), 77);
  EXPECT_EQ(out, "SKIPPED: no CUDA GPU (test)\n");
}

} // namespace
