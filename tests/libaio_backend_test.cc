// The libaio backend normalises libaio's calls: errors arrive as the
// negated errno (Channel::ret) with errno left alone, per-request results in
// io_event.res. A libaio that leaves errno changed is a convention breach,
// shown end to end with an LD_PRELOAD shim (tests/fixtures/libaio_errno_leak.c).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "backends/libaio_backend.h"
#include "convention.h"
#include "test_util.h"

using namespace aioh;

TEST(LibaioBackend, SetupZeroEventsIsEinvalOnReturn) {
  auto be = make_backend("libaio");
  EXPECT_EQ(be->name(), "libaio");
  SetupParams p;
  p.entries = 0;
  Outcome o = be->setup(p);
  // libaio must not touch errno: the backend armed the sentinel before.
  EXPECT_EQ(errno, kErrnoSentinel);
  EXPECT_TRUE(o.is_error);
  EXPECT_EQ(o.err, EINVAL);
  EXPECT_EQ(o.channel, Channel::ret);
  EXPECT_EQ(o.str(), "EINVAL@setup");
  EXPECT_TRUE(be->conventions().breaches.empty());
}

TEST(LibaioBackend, BadFdIsEbadfOnReturn) {
  auto be = make_backend("libaio");
  ASSERT_FALSE(be->setup({}).is_error);
  char b[16];
  Request r;
  r.op = Op::read;
  r.fd = 0x7ffffff0;
  r.buf = b;
  r.len = sizeof b;
  Outcome s = be->submit({&r});
  EXPECT_EQ(s.str(), "EBADF@submit");
  EXPECT_EQ(s.channel, Channel::ret);
  EXPECT_TRUE(be->conventions().breaches.empty());
}

TEST(LibaioBackend, ErrnoLeakIsABreach) {
  const std::string shim = test::fixture_lib("libaio_errno_leak");
  if (!std::filesystem::exists(shim)) GTEST_SKIP() << "fixture not built: " << shim;
  auto r = test::run_cmd("LD_PRELOAD=" + shim + " " + test::harness_bin() + " --cases " +
                         test::cases_dir() +
                         " --interface libaio --filter 'kaio-getevents.zero-timeout-empty@*'");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("changed errno to EINTR"), std::string::npos) << r.out;
  // The raw-syscall backend does not go through libaio: same row passes.
  auto k = test::run_cmd("LD_PRELOAD=" + shim + " " + test::harness_bin() + " --cases " +
                         test::cases_dir() +
                         " --interface kernel-aio --filter 'kaio-getevents.zero-timeout-empty@*'");
  EXPECT_EQ(k.status, 0) << k.out;
}
