// Verdicts come from the real calls: a libaio build that breaks its documented
// behaviour — errors returned the wrong way, a write silently shortened, a
// timeout ignored — turns cases to fail or timeout. Each broken build is an
// LD_PRELOAD shim over the real library (tests/fixtures/).
#include <gtest/gtest.h>

#include "test_util.h"

using namespace aioh;

namespace {
test::Run run_with(const std::string& fixture, const std::string& args) {
  return test::run_cmd("LD_PRELOAD=" + test::fixture_lib(fixture) + " " + test::harness_bin() + " --cases " +
                       test::cases_dir() + " --interface libaio " + args);
}
}  // namespace

TEST(BrokenLibrary, UnbrokenLibaioPassesTheSameCases) {
  auto r = test::run_cmd(test::harness_bin() + " --cases " + test::cases_dir() +
                         " --interface libaio --filter 'errors.bad-fd@*' --filter 'rw.write-4k@*'"
                         " --filter 'wait.timeout-nothing-ready@*'");
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST(BrokenLibrary, WrongErrorConventionFails) {
  auto r = run_with("libaio_errno_convention", "--filter 'errors.bad-fd@*'");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos);
  EXPECT_NE(r.out.find("instead of the negated errno"), std::string::npos) << r.out;
}

TEST(BrokenLibrary, LostWriteFailsOnReadBack) {
  auto r = run_with("libaio_lose_write", "--filter 'rw.write-4k@*'");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("write reported success but"), std::string::npos) << r.out;
}

TEST(BrokenLibrary, IgnoredTimeoutIsATimeoutVerdict) {
  auto r = run_with("libaio_ignore_timeout", "--timeout 2 --filter 'wait.timeout-nothing-ready@*' --filter 'rw.read-4k@*'");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("TIMEOUT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS    rw.read-4k@libaio"), std::string::npos) << "the run must go on: " << r.out;
}
