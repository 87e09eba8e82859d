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
