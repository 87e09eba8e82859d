// Verdict classification: the runner turns how a case's child ended into the
// right verdict — a hang is timeout, a signal is crash, silence is broken — and
// the run goes on. Test-only scenarios provoke each ending.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "case_table.h"
#include "runner.h"
#include "test_util.h"

using namespace aioh;

AIOH_SCENARIO(test_hang, aioh::param::none) {
  (void)ctx;
  for (;;) pause();
}
AIOH_SCENARIO(test_crash, aioh::param::none) {
  (void)ctx;
  raise(SIGSEGV);
}
AIOH_SCENARIO(test_abort, aioh::param::none) {
  (void)ctx;
  fprintf(stderr, "assertion went wrong\n");
  abort();
}
AIOH_SCENARIO(test_silent, aioh::param::none) { (void)ctx; }
AIOH_SCENARIO(test_exit_early, aioh::param::none) {
  (void)ctx;
  _exit(3);
}
AIOH_SCENARIO(test_observe_ebadf, aioh::param::none) {
  ctx.observe(Outcome::error(EBADF, Channel::errno_, Phase::submit));
}
AIOH_SCENARIO(test_check_fails, aioh::param::none) {
  ctx.observe(Outcome::error(EBADF, Channel::errno_, Phase::submit));
  ctx.check(false, "data mismatch at file offset 12");
}
AIOH_SCENARIO(test_skip, aioh::param::none) { ctx.skip("needs a unicorn"); }
AIOH_SCENARIO(test_convention_breach, aioh::param::none) {
  ctx.backend().conventions().breach("returned -22 instead of -1 with errno");
  ctx.observe(Outcome::error(EINVAL, Channel::ret, Phase::submit));
}

namespace {

struct RunnerTest : ::testing::Test {
  test::TempDir scratch;
  Environment env;
  std::vector<CaseRow> rows;  // stable storage for CaseRun::row

  RunnerTest() {
    for (auto& i : interface_names()) env.interfaces[i] = {true, ""};
    rows.reserve(16);
  }

  Result run(const std::string& scenario, const std::string& expect = "EBADF@submit", double timeout = 10,
             std::optional<XFail> xfail = std::nullopt) {
    CaseRow r;
    r.id = scenario;
    r.area = "t";
    r.scenario = scenario;
    r.source = "test";
    r.interfaces = {"libaio"};
    std::string err;
    r.expect["all"] = *parse_expectation(expect, &err);
    r.xfail = xfail;
    rows.push_back(r);
    Runner runner(env, RunOptions{timeout, scratch.path, false});
    return runner.run_one(CaseRun{&rows.back(), "libaio", r.case_id() + "@libaio"});
  }

  // The scenario's case ends with `verdict`, its reason containing `part`.
  Result ends(const std::string& scenario, const std::string& verdict, const std::string& part,
              const std::string& expect = "EBADF@submit") {
    Result r = run(scenario, expect);
    EXPECT_EQ(r.verdict_name(), verdict) << scenario << ": " << r.reason;
    EXPECT_NE(r.reason.find(part), std::string::npos) << scenario << ": " << r.reason;
    return r;
  }
};

}  // namespace

TEST_F(RunnerTest, MatchingObservationPasses) {
  auto r = run("test_observe_ebadf");
  EXPECT_EQ(r.verdict_name(), "pass") << r.reason;
  EXPECT_EQ(r.observed, "EBADF@submit");
  EXPECT_EQ(r.observations[0].channel, Channel::errno_);
}

TEST_F(RunnerTest, DifferentObservationFails) {
  auto r = run("test_observe_ebadf", "EINVAL@submit");
  EXPECT_EQ(r.verdict_name(), "fail");
  EXPECT_NE(r.reason.find("expected EINVAL@submit, observed EBADF@submit"), std::string::npos) << r.reason;
}

TEST_F(RunnerTest, HangIsTimeoutAndIsKilled) {
  auto r = run("test_hang", "EBADF@submit", 0.3);
  EXPECT_EQ(r.verdict_name(), "timeout");
  EXPECT_LT(r.duration_ms, 5000);
}

TEST_F(RunnerTest, SignalIsCrash) { ends("test_crash", "crash", "SEGV"); }

TEST_F(RunnerTest, AbortIsCrashWithStderr) { ends("test_abort", "crash", "assertion went wrong"); }

TEST_F(RunnerTest, AssertingNothingIsBroken) {
  EXPECT_EQ(ends("test_silent", "broken", "").reason, "the case asserted nothing");
}

TEST_F(RunnerTest, ExitingBeforeTheEndIsBroken) { ends("test_exit_early", "broken", "status 3"); }

TEST_F(RunnerTest, FailedCheckFailsEvenWhenObservationsMatch) {
  ends("test_check_fails", "fail", "data mismatch at file offset 12");
}

TEST_F(RunnerTest, SkipCarriesItsReason) { EXPECT_EQ(ends("test_skip", "skip", "").reason, "needs a unicorn"); }

TEST_F(RunnerTest, ConventionBreachFails) {
  ends("test_convention_breach", "fail", "convention: returned -22", "EINVAL@submit");
}

TEST_F(RunnerTest, KnownDefectTurnsFailIntoXfailAndPassIntoXpass) {
  XFail x{"a known bug", "linux commit 0123456789ab", {}, std::nullopt};
  EXPECT_EQ(run("test_observe_ebadf", "EINVAL@submit", 10, x).verdict_name(), "xfail");
  auto r = run("test_observe_ebadf", "EBADF@submit", 10, x);
  EXPECT_EQ(r.verdict_name(), "xpass");
  EXPECT_NE(r.reason.find("0123456789ab"), std::string::npos);
}

TEST_F(RunnerTest, KnownDefectWithIfAppliesOnlyWhereTheFactHolds) {
  XFail x{"a defect the probe reproduces", "linux commit 0123456789ab", {}, std::nullopt};
  x.cond = Predicate{"io_uring.cancel.running_leaks_erestartsys", "", "", "io_uring.cancel.running_leaks_erestartsys"};
  env.facts["io_uring.cancel.running_leaks_erestartsys"] = true;
  EXPECT_EQ(run("test_observe_ebadf", "EINVAL@submit", 10, x).verdict_name(), "xfail");
  env.facts["io_uring.cancel.running_leaks_erestartsys"] = false;
  // Where the fact does not hold the row is an ordinary row: a fail is a fail.
  auto r = run("test_observe_ebadf", "EINVAL@submit", 10, x);
  EXPECT_EQ(r.verdict_name(), "fail");
  EXPECT_FALSE(r.xfail.has_value());
  EXPECT_EQ(run("test_observe_ebadf", "EBADF@submit", 10, x).verdict_name(), "pass");
}

TEST_F(RunnerTest, KnownDefectWithIfStaysExpectedWhenTheProbeCouldNotDecide) {
  XFail x{"a defect the probe reproduces", "linux commit 0123456789ab", {}, std::nullopt};
  x.cond = Predicate{"io_uring.cancel.running_leaks_erestartsys", "", "", "io_uring.cancel.running_leaks_erestartsys"};
  env.facts.erase("io_uring.cancel.running_leaks_erestartsys");
  env.info["io_uring.cancel.running_leaks_erestartsys_reason"] = "the OPENAT never blocked";
  auto r = run("test_observe_ebadf", "EINVAL@submit", 10, x);
  EXPECT_EQ(r.verdict_name(), "xfail");
  ASSERT_TRUE(r.xfail.has_value());
  EXPECT_NE(r.xfail->undecided.find("the OPENAT never blocked"), std::string::npos) << r.xfail->undecided;
}

TEST_F(RunnerTest, UnavailableInterfaceSkipsWithTheProbeReason) {
  env.interfaces["libaio"] = {false, "io_uring_setup EPERM under a seccomp filter"};
  auto r = run("test_observe_ebadf");
  EXPECT_EQ(r.verdict_name(), "skip");
  EXPECT_NE(r.reason.find("seccomp"), std::string::npos);
}

TEST_F(RunnerTest, MissingRequiredFactSkipsNamingIt) {
  CaseRow row;
  row.id = "needs";
  row.area = "t";
  row.scenario = "test_observe_ebadf";
  row.source = "test";
  row.interfaces = {"libaio"};
  row.requires_ = {"io_uring.op.TIMEOUT"};
  std::string err;
  row.expect["all"] = *parse_expectation("EBADF@submit", &err);
  Runner runner(env, RunOptions{10, scratch.path, false});
  auto r = runner.run_one(CaseRun{&row, "libaio", "t.needs@libaio"});
  EXPECT_EQ(r.verdict_name(), "skip");
  EXPECT_NE(r.reason.find("io_uring.op.TIMEOUT"), std::string::npos) << r.reason;
}

TEST_F(RunnerTest, RunGoesOnAfterHangsAndCrashes) {
  std::vector<std::string> verdicts;
  for (auto s : {"test_hang", "test_crash", "test_observe_ebadf"})
    verdicts.emplace_back(run(s, "EBADF@submit", 0.3).verdict_name());
  EXPECT_EQ(verdicts, (std::vector<std::string>{"timeout", "crash", "pass"}));
}

TEST(ChildReport, ReportLineThatIsNotAnObjectFailsTheCaseNotTheRun) {
  // A stray line of valid JSON on the report fd (an array, a number) once stopped a whole run
  // with nlohmann's type_error: it must become one failure of the case.
  ChildReport r;
  EXPECT_NO_THROW(r.absorb("[  1/443] BROKEN"));
  EXPECT_NO_THROW(r.absorb("[1, 2]"));
  EXPECT_NO_THROW(r.absorb("42"));
  ASSERT_EQ(r.failures.size(), 3u);
  EXPECT_NE(r.failures[1].find("not an object"), std::string::npos) << r.failures[1];
}
