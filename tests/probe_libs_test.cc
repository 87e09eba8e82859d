// The library facts of probe_libs.cc, each checked against another path to the
// same behaviour: setup_no_sqarray against the flags the library left in a
// real ring (on a kernel that accepts IORING_SETUP_NO_SQARRAY), the user-space
// answers against a SECCOMP_RET_ERRNO filter (the probe used SECCOMP_RET_TRAP)
// under which any system call would fail with EPERM. Each check runs in a
// forked child: a seccomp filter cannot be removed.
#include <gtest/gtest.h>
#include <libaio.h>
#include <liburing.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "probe.h"

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

namespace aioh {
namespace {

// Exit status of fn() run in a child.
int in_child(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

bool deny(int nr) {
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
  bool ok = f && seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0) == 0 && seccomp_load(f) == 0;
  if (f) seccomp_release(f);
  return ok;
}

class ProbeLibsTest : public ::testing::Test {
 protected:
  void SetUp() override { probe_libraries(env_); }
  // In a child: `setup` (false: the child could not set up), then a filter
  // denying system call `nr`, then `call` (true: it succeeded). The call
  // survives the filter exactly when the library does without that system
  // call (answers in user space, or through another call), as the probe's
  // `fact` says.
  void expect_survives_denial(const char* fact, int nr, const std::function<bool()>& setup,
                              const std::function<bool()>& call) {
    int got = in_child([&] {
      if (!setup()) return 3;
      if (!deny(nr)) return 4;
      return call() ? 0 : 1;
    });
    ASSERT_LT(got, 3) << "child setup failed (" << got << ")";
    EXPECT_EQ(got == 0, env_.flag(fact)) << fact;
  }
  Environment env_;
};

TEST_F(ProbeLibsTest, EveryFactIsDecidedAndKnownToTheCaseTables) {
  for (const char* f : {"liburing.setup_retry", "liburing.setup_no_sqarray", "liburing.setup_attempts",
                        "liburing.wait_userspace", "liburing.peek_userspace",
                        "libaio.getevents_userspace", "libaio.pgetevents_userspace",
                        "libaio.getevents_via_pgetevents"}) {
    EXPECT_TRUE(env_.facts.count(f)) << f << " undecided: " << env_.info["liburing.probe"] << env_.info["libaio.probe"];
    EXPECT_TRUE(is_known_fact(f)) << f;
  }
  EXPECT_EQ(env_.flag("liburing.setup_retry"), env_.number("liburing.setup_attempts").value_or(0) > 1);
}

TEST_F(ProbeLibsTest, NoSqarrayMatchesTheFlagsLeftInARealRing) {
  io_uring_params kp{};
  kp.flags = IORING_SETUP_NO_SQARRAY;
  int kfd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &kp));
  if (kfd < 0) GTEST_SKIP() << "this kernel refuses IORING_SETUP_NO_SQARRAY: the ring cannot show the flag";
  close(kfd);
  io_uring ring{};
  ASSERT_EQ(io_uring_queue_init(4, &ring, 0), 0);
  EXPECT_EQ((ring.flags & IORING_SETUP_NO_SQARRAY) != 0, env_.flag("liburing.setup_no_sqarray"));
  io_uring_queue_exit(&ring);
}

TEST_F(ProbeLibsTest, WaitUserspaceMatchesAWaitUnderADenyingFilter) {
  io_uring ring{};
  expect_survives_denial(
      "liburing.wait_userspace", __NR_io_uring_enter,
      [&] {
        if (io_uring_queue_init(4, &ring, 0) != 0) return false;
        io_uring_prep_nop(io_uring_get_sqe(&ring));
        return io_uring_submit_and_wait(&ring, 1) == 1;
      },
      [&] {
        io_uring_cqe* cqe = nullptr;
        return io_uring_wait_cqes(&ring, &cqe, 1, nullptr, nullptr) == 0;
      });
}

TEST_F(ProbeLibsTest, GeteventsUserspaceMatchesAPollUnderADenyingFilter) {
  io_context_t ctx = nullptr;
  expect_survives_denial(
      "libaio.getevents_userspace", __NR_io_getevents, [&] { return io_setup(4, &ctx) == 0; },
      [&] {
        io_event ev[1];
        timespec zero{0, 0};
        return io_getevents(ctx, 1, 1, ev, &zero) == 0;
      });
}

TEST_F(ProbeLibsTest, GeteventsViaPgeteventsMatchesWhichSyscallAWaitSurvives) {
  // Deny io_getevents only: a library that waits through io_pgetevents still reaps the read.
  io_context_t ctx = nullptr;
  expect_survives_denial(
      "libaio.getevents_via_pgetevents", __NR_io_getevents,
      [&] {
        if (io_setup(4, &ctx) != 0) return false;
        int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        static char buf[512];
        iocb cb{};
        iocb* cbs[1] = {&cb};
        io_prep_pread(&cb, fd, buf, sizeof buf, 0);
        return fd >= 0 && io_submit(ctx, 1, cbs) == 1;
      },
      [&] {
        io_event ev[1];
        timespec second{1, 0};
        return io_getevents(ctx, 1, 1, ev, &second) == 1;
      });
}

}  // namespace
}  // namespace aioh
