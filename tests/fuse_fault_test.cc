// The fs fault layer's own tests: the fault filesystem mounts, an nth:2 read
// rule fails exactly the second O_DIRECT read (counted by the daemon, data of
// the others intact), an offset range spares the requests outside it, release
// leaves no mount behind, and a case killed with its daemon (SIGKILL) leaves a
// dead mount that the journal's undo removes. Skips without /dev/fuse.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "faults/fault.h"
#include "system/journal.h"
#include "pattern.h"
#include "system/device_guard.h"
#include "test_util.h"

namespace aioh {
namespace {

void need_fuse() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/fuse";
  if (geteuid() != 0) GTEST_SKIP() << "mounts the fault fs: needs root";
}

// A 64 KiB pattern file on the mounted fault fs, reopened with `flags`.
int make_file(const std::string& dir, int flags) {
  std::string p = dir + "/data";
  int fd = open(p.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  AlignedBuffer b(65536);
  fill_pattern(b.data(), 65536, kFileSeed, 0);
  bool ok = pwrite(fd, b.data(), 65536, 0) == 65536;
  close(fd);
  return ok ? open(p.c_str(), flags | O_CLOEXEC) : -1;
}

// A case's directory and the shared fault state, for a test that needs /dev/fuse.
struct FsFaultCase : ::testing::Test {
  test::TempDir d;
  faults::FaultState* st = faults::state_alloc();
  void SetUp() override { need_fuse(); }
  ~FsFaultCase() override { faults::state_free(st); }
};

TEST(FsFault, ValidateKnowsEffectsAndRanges) {
  EXPECT_EQ(faults::validate({"fs", "read", "EIO", "always"}), "");
  EXPECT_EQ(faults::validate({"fs", "write", "short:100", "once"}), "");
  EXPECT_EQ(faults::validate({"fs", "fsync", "delay:500", "nth:2"}), "");
  EXPECT_EQ(faults::validate({"fs", "read", "EIO", "always", "4096:8192"}), "");
  EXPECT_NE(faults::validate({"fs", "open", "EIO", "always"}), "");
  EXPECT_NE(faults::validate({"fs", "read", "NOPE", "always"}), "");
  EXPECT_NE(faults::validate({"fs", "read", "delay:0", "always"}), "");
  EXPECT_NE(faults::validate({"fs", "fsync", "short:1", "always"}), "");
  EXPECT_NE(faults::validate({"fs", "read", "EIO", "always", "8192:4096"}), "");
  EXPECT_NE(faults::validate({"fs", "read", "EIO", "always", "12"}), "");
  EXPECT_EQ((faults::FaultSpec{"fs", "write", "EIO", "always"}.fiu_name()), "fs/write");
}

TEST_F(FsFaultCase, NthReadFailsExactlyTheSecondAndUnmountsClean) {
  auto in = faults::install({"fs", "read", "EIO", "nth:2"}, 1, st, d.path, false);
  ASSERT_EQ(in.kind, faults::Installed::ok) << in.reason;
  EXPECT_EQ(in.scratch_dir, d.path + "/fs");
  EXPECT_TRUE(system::is_mount_point(in.scratch_dir));
  int fd = make_file(in.scratch_dir, O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0) << strerror(errno);
  faults::arm();
  AlignedBuffer b(4096);
  ssize_t r[3];
  int e[3];
  for (int i = 0; i < 3; i++) {
    r[i] = pread(fd, b.data(), 4096, i * 4096);
    e[i] = errno;
    if (r[i] == 4096) {
      EXPECT_EQ(verify_buffer(b.data(), 4096, kFileSeed, i * 4096), "");
    }
  }
  faults::disarm();
  close(fd);
  faults::release();
  EXPECT_EQ(r[0], 4096);
  EXPECT_EQ(r[1], -1);
  EXPECT_EQ(e[1], EIO);
  EXPECT_EQ(r[2], 4096);
  EXPECT_EQ(st->calls.load(), 3);  // counted by the daemon, one per O_DIRECT read
  EXPECT_EQ(st->fired.load(), 1);
  EXPECT_FALSE(system::is_mount_point(in.scratch_dir));
}

TEST_F(FsFaultCase, RangeSparesRequestsOutsideIt) {
  auto in = faults::install({"fs", "write", "ENOSPC", "always", "8192:12288"}, 1, st, d.path, false);
  ASSERT_EQ(in.kind, faults::Installed::ok) << in.reason;
  int fd = make_file(in.scratch_dir, O_RDWR | O_DIRECT);
  ASSERT_GE(fd, 0);
  faults::arm();
  AlignedBuffer b(4096);
  fill_pattern(b.data(), 4096, kWriteSeed, 4096);
  ssize_t outside = pwrite(fd, b.data(), 4096, 4096);
  fill_pattern(b.data(), 4096, kWriteSeed, 8192);
  ssize_t inside = pwrite(fd, b.data(), 4096, 8192);
  int e = errno;
  faults::disarm();
  EXPECT_EQ(outside, 4096);
  EXPECT_EQ(inside, -1);
  EXPECT_EQ(e, ENOSPC);
  EXPECT_EQ(verify_file(fd, 4096, 4096, kWriteSeed), "");
  EXPECT_EQ(verify_file(fd, 8192, 4096, kFileSeed), "");  // the refused write changed nothing
  close(fd);
  faults::release();
  EXPECT_EQ(st->calls.load(), 1);  // only the request in the range is decided
  EXPECT_EQ(st->fired.load(), 1);
  EXPECT_FALSE(system::is_mount_point(in.scratch_dir));
}

TEST_F(FsFaultCase, KilledCaseAndDaemonMountIsUndoneFromTheJournal) {
  Journal::run_journal().declare_root(d.path);  // opened before fork, as the harness does, with its scratch root
  pid_t pid = fork();
  if (pid == 0) {
    auto in = faults::install({"fs", "read", "EIO", "always"}, 1, st, d.path, true);
    // "Killed": no release(). The daemon gets SIGKILL from PR_SET_PDEATHSIG.
    _exit(in.kind == faults::Installed::ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string mnt = d.path + "/fs";
  // The daemon is gone (SIGKILL), the mount is still there, dead.
  for (int i = 0; i < 200 && access(mnt.c_str(), F_OK) == 0; i++) usleep(10000);
  EXPECT_NE(access((mnt + "/x").c_str(), F_OK), 0);
  EXPECT_TRUE(system::is_mount_point(mnt));
  auto undone = Journal::run_journal().undo_pid(pid);
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_NE(undone[0].find("umount"), std::string::npos) << undone[0];
  EXPECT_FALSE(system::is_mount_point(mnt));
}

}  // namespace
}  // namespace aioh
