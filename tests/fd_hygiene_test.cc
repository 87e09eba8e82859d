// Child fd hygiene: a case's child keeps only stdio, its result pipe and
// what the harness's machinery in it uses, so a case cannot write into a
// report file the harness has open. A test-only scenario looks at the fd the
// harness's output file has in the parent, through the child's own
// /proc/self/fd, both when the runner forks the child itself and when the
// scheduler's fork server does. Likewise the child's signal dispositions:
// every one SIG_DFL, whatever the forking process ignores or handles.
#include <gtest/gtest.h>

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include "case_rows.h"
#include "runner.h"
#include "scheduler.h"
#include "test_util.h"
#include "writers/outputs.h"

using namespace aioh;

// Observes whether `fd` in the case's child is the output file (1) or not
// (0: closed, or reused by the child for something else, which is no leak),
// from the child's own /proc/self/fd.
AIOH_SCENARIO(test_fd_in_child, aioh::param::integer("fd", -1, "the parent's fd of the output file"),
              aioh::param::text("path", "", "the output file")) {
  int fd = static_cast<int>(ctx.num("fd"));
  char link[PATH_MAX] = {};
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1);
  bool leaked = n >= 0 && std::string(link, static_cast<size_t>(n)) == ctx.str("path");
  ctx.observe(Outcome::ok(leaked ? 1 : 0, Channel::ret, Phase::submit));
}

// Fails the case for each signal whose disposition in the child is not SIG_DFL.
AIOH_SCENARIO(test_dispositions_in_child, aioh::param::none) {
  for (int s = 1; s < NSIG; s++) {
    struct sigaction sa {};
    if (s == SIGKILL || s == SIGSTOP || sigaction(s, nullptr, &sa) != 0) continue;
    ctx.check(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL,
              "signal " + std::to_string(s) + " is not SIG_DFL in the case's child");
  }
  ctx.observe(Outcome::ok(0, Channel::ret, Phase::submit));
}

namespace {

void on_usr2(int) {}

struct FdHygieneTest : ::testing::Test {
  test::TempDir scratch;
  Environment env;
  test::CaseRows rows;
  OutputStreams outputs;
  std::string path = scratch.path + "/results.jsonl";
  int output_fd = -1;

  FdHygieneTest() {
    for (const auto& i : interface_names()) env.interfaces[i] = {true, ""};
  }

  void SetUp() override {
    ASSERT_EQ(outputs.add_file(OutputSpec{"jsonl", path, true}), "");
    output_fd = fd_of(path);
    ASSERT_GE(output_fd, 0) << "the output file is not open in the test process";
    rows.add("t", "fd", "test_fd_in_child", {{"fd", int64_t{output_fd}}, {"path", path}}, "0@submit");
  }

  // The fd this process has `file` open as, from /proc/self/fd; -1 if none.
  static int fd_of(const std::string& file) {
    for (int fd = 0; fd < 1024; fd++) {
      char link[PATH_MAX] = {};
      ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1);
      if (n > 0 && std::string(link, static_cast<size_t>(n)) == file) return fd;
    }
    return -1;
  }
};

}  // namespace

TEST_F(FdHygieneTest, OutputFileIsNotOpenInACaseChildTheRunnerForks) {
  Runner runner(env, RunOptions{10, scratch.path, false});
  Result r = runner.run_one(rows.runs[0]);
  EXPECT_EQ(r.verdict_name(), "pass") << r.reason;
  EXPECT_EQ(r.observed, "0@submit");
}

TEST_F(FdHygieneTest, OutputFileIsNotOpenInACaseChildTheForkServerForks) {
  Runner runner(env, RunOptions{10, scratch.path, false});
  Scheduler s(runner, SchedulerOptions{2, 1});
  std::vector<Result> out;
  s.run(rows.runs, [&](const Result& r, size_t) { out.push_back(r); });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict_name(), "pass") << out[0].reason;
  EXPECT_EQ(out[0].observed, "0@submit");
}

// The harness ignores SIGUSR1 and handles SIGUSR2 before the run (as it
// ignores or handles others, and its fork server more): a case's child,
// forked by the fork server from the dispositions it read once, has neither.
TEST_F(FdHygieneTest, EverySignalIsDefaultInACaseChildTheForkServerForks) {
  test::CaseRows sig_rows;
  sig_rows.add("t", "dispositions", "test_dispositions_in_child", {}, "0@submit");
  struct sigaction ign {}, handler {}, old1 {}, old2 {};
  ign.sa_handler = SIG_IGN;
  handler.sa_handler = on_usr2;
  ASSERT_EQ(sigaction(SIGUSR1, &ign, &old1), 0);
  ASSERT_EQ(sigaction(SIGUSR2, &handler, &old2), 0);
  Runner runner(env, RunOptions{10, scratch.path, false});
  std::vector<Result> out;
  Scheduler(runner, SchedulerOptions{2, 1}).run(sig_rows.runs, [&](const Result& r, size_t) { out.push_back(r); });
  sigaction(SIGUSR1, &old1, nullptr);
  sigaction(SIGUSR2, &old2, nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict_name(), "pass") << out[0].reason;
}
