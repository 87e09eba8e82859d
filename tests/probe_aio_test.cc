// The kernel-AIO and O_DIRECT facts of probe_aio.cc, each checked on this
// host against an independent round trip through io_submit(2) (libaio) or
// another path to the same kernel code: the RWF_* facts against the same
// flag on an iocb, ioprio.hints against IOCB_FLAG_IOPRIO, dio_setfl against
// open(O_DIRECT), dio_seg_align against an IOCB_CMD_PREADV of half-block
// segments, aio.ring_forked against reading the ring in a forked child.
// A fact the probe left undecided fails the test (this host decides all).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libaio.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "pattern.h"
#include "probe.h"
#include "probe_aio.h"
#include "rwf_compat.h"
#include "probed_test.h"
#include "test_util.h"

namespace aioh {
namespace {

class ProbeAioTest : public test::ProbedTest {
 protected:
  void SetUp() override { ASSERT_EQ(io_setup(8, &ctx_), 0); }
  void TearDown() override { io_destroy(ctx_); }
  // io_submit of one iocb: its answer, and the event's res when accepted.
  std::pair<int, long> one(iocb& cb) {
    iocb* list[1] = {&cb};
    int r = io_submit(ctx_, 1, list);
    if (r != 1) return {r, 0};
    io_event ev{};
    timespec ts{2, 0};
    EXPECT_EQ(io_getevents(ctx_, 1, 1, &ev, &ts), 1);
    return {r, static_cast<long>(ev.res)};
  }
  // A fact's two answers for one iocb: with it, io_submit accepts the iocb
  // and its event's res is `done`; without it, io_submit refuses with
  // `refused`.
  void expect_submit_agrees(bool supported, iocb& cb, long done, int refused) {
    auto [r, res] = one(cb);
    if (supported) {
      EXPECT_EQ(r, 1);
      EXPECT_EQ(res, done);
    } else {
      EXPECT_EQ(r, refused);
    }
  }
  // expect_submit_agrees for a 4 KiB read of a scratch file `name`, its
  // iocb marked by `mark` (a flag, a priority).
  void expect_read_agrees(bool supported, const char* name, const std::function<void(iocb&)>& mark, int refused) {
    std::string path = dir_->write(name, std::string(4096, 'x'));
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << strerror(errno);
    char b[4096];
    iocb cb{};
    io_prep_pread(&cb, fd, b, sizeof b, 0);
    mark(cb);
    expect_submit_agrees(supported, cb, 4096, refused);
    close(fd);
  }
  io_context_t ctx_{};
};

TEST_F(ProbeAioTest, AllFactNamesAreKnownToCaseTables) {
  for (const char* n : {"rwf.nowait.eventfd", "rwf.nowait.eventfd_write", "rwf.dontcache", "rwf.nosignal", "ioprio.hints", "statx_write_atomic",
                        "statx_dio_read_align", "dio_setfl", "dio_seg_align", "dio_mem_relaxed",
                        "atomic_write_unit_min", "atomic_write_unit_max", "atomic_write_segments_max",
                        "dio_nowait_clean_read", "dio_nowait_overwrite", "aio.ring_forked",
                        "sysctl.ulong_negative_einval"})
    EXPECT_TRUE(is_known_fact(n)) << n;
  for (const char* n : {"dio_setfl", "dio_seg_align", "atomic_write_unit_max", "statx_dio_read_align"})
    EXPECT_TRUE(is_aio_target_fact(n)) << n;
  EXPECT_FALSE(is_aio_fact("rwf.nonsense"));
}

TEST_F(ProbeAioTest, EventfdNowaitAgreesWithIoSubmit) {
  bool nowait = fact("rwf.nowait.eventfd");
  int efd = eventfd(1, EFD_CLOEXEC);
  uint64_t v = 0;
  iocb cb{};
  io_prep_pread(&cb, efd, &v, sizeof v, 0);
  cb.aio_rw_flags = RWF_NOWAIT;
  expect_submit_agrees(nowait, cb, 8, -EOPNOTSUPP);
  close(efd);
}

// The write side: with ->write_iter an IOCB_CMD_PWRITE of 8 bytes is
// accepted and adds its value; without it fs/aio.c aio_write() refuses it.
TEST_F(ProbeAioTest, EventfdWriteIterAgreesWithIoSubmit) {
  bool write_iter = fact("rwf.nowait.eventfd_write");
  int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
  uint64_t v = 3;
  iocb cb{};
  io_prep_pwrite(&cb, efd, &v, sizeof v, 0);
  expect_submit_agrees(write_iter, cb, 8, -EINVAL);
  uint64_t got = 0;
  EXPECT_EQ(read(efd, &got, sizeof got), 8);
  EXPECT_EQ(got, write_iter ? 4u : 1u);
  close(efd);
}

TEST_F(ProbeAioTest, DontcacheAgreesWithIoSubmit) {
  expect_read_agrees(fact("rwf.dontcache"), "dc", [](iocb& cb) { cb.aio_rw_flags = RWF_DONTCACHE; }, -EOPNOTSUPP);
}

TEST_F(ProbeAioTest, NosignalAgreesWithIoSubmitIntoABrokenPipe) {
  bool nosignal = fact("rwf.nosignal");
  sigset_t s, old;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, &old);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  char c = 'x';
  iocb cb{};
  io_prep_pwrite(&cb, p[1], &c, 1, 0);
  cb.aio_rw_flags = RWF_NOSIGNAL;
  expect_submit_agrees(nosignal, cb, -EPIPE, -EOPNOTSUPP);
  sigset_t pend;
  sigpending(&pend);
  if (nosignal) {
    EXPECT_FALSE(sigismember(&pend, SIGPIPE));
  }
  if (sigismember(&pend, SIGPIPE)) {
    int sig;
    sigwait(&s, &sig);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(p[1]);
}

TEST_F(ProbeAioTest, IoprioHintsAgreeWithIocbFlagIoprio) {
  auto hinted = [](iocb& cb) {
    cb.u.c.flags |= 1u << 1;  // IOCB_FLAG_IOPRIO (linux/aio_abi.h)
    cb.aio_reqprio = static_cast<short>((2 << 13) | (1 << 3));
  };
  expect_read_agrees(fact("ioprio.hints"), "prio", hinted, -EINVAL);
}

TEST_F(ProbeAioTest, SetflAgreesWithOpenODirect) {
  bool setfl = fact("dio_setfl");
  std::string path = dir_->write("setfl", std::string(4096, 'x'));
  int fd = open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  EXPECT_EQ(fd >= 0, setfl) << strerror(errno);
  if (fd >= 0) close(fd);
}

TEST_F(ProbeAioTest, SegAlignAgreesWithPreadvThroughIoSubmit) {
  if (!env_->flag("dio")) GTEST_SKIP() << "no O_DIRECT on the scratch filesystem";
  auto seg = env_->number("dio_seg_align");
  auto mem = env_->number("dio_mem_align");
  auto off = env_->number("dio_offset_align");
  ASSERT_TRUE(seg && mem && off) << "dio_seg_align undecided";
  if (*mem >= *off) GTEST_SKIP() << "memory and block alignment coincide here: nothing to tell apart";
  std::string path = dir_->path + "/seg";
  {
    int w = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    std::vector<uint8_t> b(65536);
    fill_pattern(b.data(), b.size(), kFileSeed, 0);
    ASSERT_EQ(write(w, b.data(), b.size()), 65536);
    fsync(w);
    close(w);
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  const size_t half = static_cast<size_t>(*off / 2);
  AlignedBuffer a(half), b(half);
  iovec iov[2] = {{a.data(), half}, {b.data(), half}};
  iocb cb{};
  io_prep_preadv(&cb, fd, iov, 2, 0);
  auto [r, res] = one(cb);
  ASSERT_EQ(r, 1);
  EXPECT_EQ(res, *seg == *mem ? *off : -EINVAL);
  close(fd);
}

TEST_F(ProbeAioTest, RingForkedAgreesWithReadingTheRingInAChild) {
  bool forked = fact("aio.ring_forked");
  pid_t pid = fork();
  if (pid == 0) {
    volatile unsigned magic = reinterpret_cast<const unsigned*>(ctx_)[4];  // struct aio_ring.magic
    _exit(magic == 0xa10a10a1 ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_EQ(WIFEXITED(st) && WEXITSTATUS(st) == 0, forked);
  EXPECT_EQ(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, !forked);
}

}  // namespace
}  // namespace aioh
