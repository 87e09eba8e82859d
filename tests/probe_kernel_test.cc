// The kernel behaviour facts of probe_kernel.cc, each checked on this host
// against an independent round trip through another path to the same kernel
// code: the cancel flags by really cancelling a pending poll, sync cancel by
// cancelling one, RWF_NOWAIT through io_submit(2) instead of preadv2(2),
// RWF_NOAPPEND through IORING_OP_WRITE, sparse files by reading an empty
// slot, the negative-timeout check through tv_nsec, the ERESTARTSYS leak
// through IORING_REGISTER_SYNC_CANCEL. A fact the probe left undecided fails
// the test (this host must decide every one).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <libaio.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <thread>

#include "probe.h"
#include "probe_kernel.h"
#include "probed_test.h"
#include "rwf_compat.h"
#include "test_util.h"

namespace aioh {
namespace {

class ProbeKernelTest : public test::ProbedTest {
 protected:
  void SetUp() override {
    if (!env_->flag("io_uring")) GTEST_SKIP() << "io_uring unavailable here";
    ASSERT_EQ(io_uring_queue_init(8, &ring_, 0), 0);
    ASSERT_EQ(pipe2(pipe_, O_CLOEXEC), 0);
  }
  void TearDown() override {
    io_uring_queue_exit(&ring_);
    close(pipe_[0]);
    close(pipe_[1]);
  }
  // Submits what is queued and returns the CQE res for user_data `tag`
  // (other CQEs are dropped), or -ETIME after 2 s.
  int res_of(uint64_t tag) {
    io_uring_submit(&ring_);
    for (int i = 0; i < 8; ++i) {
      __kernel_timespec ts{2, 0};
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) return -ETIME;
      uint64_t d = cqe->user_data;
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (d == tag) return res;
    }
    return -ETIME;
  }
  // One sqe that `prep` fills, tagged `tag` and submitted: its CQE res.
  template <class Prep>
  int res_of_one(uint64_t tag, Prep prep) {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    prep(s);
    io_uring_sqe_set_data64(s, tag);
    return res_of(tag);
  }
  // A cancel flag's check: the polls `tags` pending on the pipe, then the
  // cancel that `prep` fills cancels `count` of them with the flag and is
  // refused with -EINVAL without it.
  template <class Prep>
  void expect_cancel_agrees(const char* flag_fact, std::initializer_list<uint64_t> tags, Prep prep, int count) {
    bool flag = fact(flag_fact);
    for (uint64_t t : tags) pending_poll(t);
    EXPECT_EQ(res_of_one(9, prep), flag ? count : -EINVAL) << flag_fact;
  }
  void pending_poll(uint64_t tag) {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    io_uring_prep_poll_add(s, pipe_[0], POLLIN);
    io_uring_sqe_set_data64(s, tag);
    ASSERT_EQ(io_uring_submit(&ring_), 1);
  }
  io_uring ring_{};
  int pipe_[2] = {-1, -1};
};

TEST_F(ProbeKernelTest, AllFactNamesAreKnownToCaseTables) {
  for (const char* n : {"io_uring.cancel.fd", "io_uring.cancel.all", "io_uring.cancel.any",
                        "io_uring.register.sync_cancel", "io_uring.register.files_sparse",
                        "io_uring.register.buffer_1g_limit", "io_uring.setup.ATTACH_WQ",
                        "io_uring.iopoll.nop", "io_uring.timeout.negative_einval",
                        "io_uring.cancel.running_leaks_erestartsys", "rwf.nowait.pipe",
                        "rwf.nowait.socket", "rwf.noappend", "sysctl.kernel.io_uring_disabled"})
    EXPECT_TRUE(is_known_fact(n)) << n;
  EXPECT_FALSE(is_known_fact("io_uring.cancel.nonsense"));
}

TEST_F(ProbeKernelTest, CancelAllAgreesWithCancellingTwoPolls) {
  expect_cancel_agrees(
      "io_uring.cancel.all", {1, 1}, [](io_uring_sqe* s) { io_uring_prep_cancel64(s, 1, IORING_ASYNC_CANCEL_ALL); }, 2);
}

TEST_F(ProbeKernelTest, CancelFdAgreesWithCancellingByFile) {
  // Without ALL, a cancel by file answers 0 for the one request it found.
  expect_cancel_agrees("io_uring.cancel.fd", {1}, [&](io_uring_sqe* s) { io_uring_prep_cancel_fd(s, pipe_[0], 0); }, 0);
}

TEST_F(ProbeKernelTest, CancelAnyAgreesWithCancellingAnyPoll) {
  // The cancel's user_data (777) is ignored with ANY.
  expect_cancel_agrees(
      "io_uring.cancel.any", {5}, [](io_uring_sqe* s) { io_uring_prep_cancel64(s, 777, IORING_ASYNC_CANCEL_ANY); }, 1);
}

TEST_F(ProbeKernelTest, SyncCancelAgreesWithCancellingAPendingPoll) {
  bool sync = fact("io_uring.register.sync_cancel");
  pending_poll(3);
  io_uring_sync_cancel_reg reg{};
  reg.addr = 3;
  reg.fd = -1;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  int r = io_uring_register_sync_cancel(&ring_, &reg);
  EXPECT_EQ(r, sync ? 0 : -EINVAL);
  if (sync) {
    EXPECT_EQ(res_of(3), -ECANCELED);
  }
}

TEST_F(ProbeKernelTest, FilesSparseAgreesWithAnEmptySlotRead) {
  bool sparse = fact("io_uring.register.files_sparse");
  io_uring_rsrc_register rr{};
  rr.nr = 2;
  rr.flags = IORING_RSRC_REGISTER_SPARSE;
  int r = io_uring_register(ring_.ring_fd, IORING_REGISTER_FILES2, &rr, sizeof rr);
  if (!sparse) {
    EXPECT_EQ(r, -EINVAL);
    return;
  }
  ASSERT_EQ(r, 0);
  char b[8];
  EXPECT_EQ(res_of_one(4,
                       [&](io_uring_sqe* s) {
                         io_uring_prep_read(s, 1, b, sizeof b, 0);
                         s->flags |= IOSQE_FIXED_FILE;
                       }),
            -EBADF);
}

TEST_F(ProbeKernelTest, BufferLimitAgreesWithRegisteringJustOver1GiB) {
  if (!fact("io_uring.register.buffer_1g_limit"))
    GTEST_SKIP() << "no 1 GiB limit here: registering would pin 1 GiB";
  const size_t len = (size_t{1} << 30) + 4096;
  void* big = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(big, MAP_FAILED);
  iovec iov{big, len};
  EXPECT_EQ(io_uring_register_buffers(&ring_, &iov, 1), -EFAULT);
  munmap(big, len);
}

TEST_F(ProbeKernelTest, AttachWqAgreesWithLiburingSetup) {
  bool attach = fact("io_uring.setup.ATTACH_WQ");
  io_uring second{};
  io_uring_params p{};
  p.flags = IORING_SETUP_ATTACH_WQ;
  p.wq_fd = static_cast<__u32>(ring_.ring_fd);
  int r = io_uring_queue_init_params(4, &second, &p);
  EXPECT_EQ(r, attach ? 0 : -EINVAL);
  if (r == 0) io_uring_queue_exit(&second);
}

TEST_F(ProbeKernelTest, IopollNopAgreesWithSubmitAndWait) {
  bool nop = fact("io_uring.iopoll.nop");
  if (!env_->flag("io_uring.setup.IOPOLL")) GTEST_SKIP() << "no IOPOLL rings here";
  io_uring r{};
  ASSERT_EQ(io_uring_queue_init(4, &r, IORING_SETUP_IOPOLL), 0);
  io_uring_prep_nop(io_uring_get_sqe(&r));
  ASSERT_EQ(io_uring_submit_and_wait(&r, 1), 1);
  io_uring_cqe* cqe = nullptr;
  ASSERT_EQ(io_uring_peek_cqe(&r, &cqe), 0);
  EXPECT_EQ(cqe->res, nop ? 0 : -EINVAL);
  io_uring_queue_exit(&r);
}

TEST_F(ProbeKernelTest, NegativeTimeoutCheckAgreesWithNegativeNanoseconds) {
  bool checked = fact("io_uring.timeout.negative_einval");
  __kernel_timespec ts{0, -1};
  int res = res_of_one(6, [&](io_uring_sqe* s) { io_uring_prep_timeout(s, &ts, 0, 0); });
  if (checked) {
    EXPECT_EQ(res, -EINVAL);
  } else {
    EXPECT_NE(res, -EINVAL);
  }
}

TEST_F(ProbeKernelTest, RestartsysLeakAgreesWithSyncCancelOfABlockedOpen) {
  bool leaks = fact("io_uring.cancel.running_leaks_erestartsys");
  if (!env_->flag("io_uring.register.sync_cancel")) GTEST_SKIP() << "no IORING_REGISTER_SYNC_CANCEL here";
  std::string fifo = dir_->path + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  io_uring_prep_openat(s, AT_FDCWD, fifo.c_str(), O_WRONLY | O_CLOEXEC, 0);
  s->flags |= IOSQE_ASYNC;
  io_uring_sqe_set_data64(s, 8);
  ASSERT_EQ(io_uring_submit(&ring_), 1);
  // The open must be blocked in its worker before the cancel: a cancel of
  // a queued request answers differently. Wait for a sleeping iou-wrk task.
  bool blocked = false;
  for (int i = 0; i < 2000 && !blocked; ++i) {
    for (auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(t.path() / "comm"), stat(t.path() / "stat");
      std::string name, line;
      std::getline(comm, name);
      std::getline(stat, line);
      auto rp = line.rfind(')');
      if (name.rfind("iou-wrk-", 0) == 0 && rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'S')
        blocked = true;
    }
    if (!blocked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(blocked);
  io_uring_sync_cancel_reg reg{};
  reg.addr = 8;
  reg.fd = -1;
  reg.timeout.tv_sec = 2;
  EXPECT_EQ(io_uring_register_sync_cancel(&ring_, &reg), 0);
  int res = res_of(8);
  if (res >= 0) close(res);
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  EXPECT_EQ(res == -512, leaks) << "OPENAT completed with " << res;
  if (reader >= 0) close(reader);
}

TEST_F(ProbeKernelTest, RwfNowaitPipeAgreesWithIoSubmit) {
  bool pipe_nowait = fact("rwf.nowait.pipe");
  bool sock_nowait = fact("rwf.nowait.socket");
  io_context_t ctx{};
  ASSERT_EQ(io_setup(4, &ctx), 0);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const std::pair<int, bool> cases[] = {{pipe_[0], pipe_nowait}, {sv[0], sock_nowait}};
  ASSERT_EQ(write(pipe_[1], "x", 1), 1);
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  for (auto [fd, expect] : cases) {
    char b = 0;
    iocb cb{};
    io_prep_pread(&cb, fd, &b, 1, 0);
    cb.aio_rw_flags = RWF_NOWAIT;
    iocb* list[1] = {&cb};
    int r = io_submit(ctx, 1, list);
    if (!expect) {
      EXPECT_EQ(r, -EOPNOTSUPP) << "fd " << fd;
      continue;
    }
    ASSERT_EQ(r, 1) << "fd " << fd;
    io_event ev{};
    timespec ts{2, 0};
    ASSERT_EQ(io_getevents(ctx, 1, 1, &ev, &ts), 1);
    EXPECT_EQ(static_cast<long>(ev.res), 1);
    EXPECT_EQ(b, 'x');
  }
  close(sv[0]);
  close(sv[1]);
  io_destroy(ctx);
}

TEST_F(ProbeKernelTest, RwfNoappendAgreesWithUringWrite) {
  bool noappend = fact("rwf.noappend");
  std::string path = dir_->path + "/append";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "ab", 2), 2);
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  io_uring_prep_write(s, fd, "z", 1, 0);
  s->rw_flags = RWF_NOAPPEND;
  io_uring_sqe_set_data64(s, 7);
  int res = res_of(7);
  char first = 0;
  ASSERT_EQ(pread(fd, &first, 1, 0), 1);
  struct stat st {};
  fstat(fd, &st);
  if (noappend) {
    EXPECT_EQ(res, 1);
    EXPECT_EQ(first, 'z');
    EXPECT_EQ(st.st_size, 2);
  } else {
    EXPECT_EQ(res, -EOPNOTSUPP);
  }
  close(fd);
}

TEST_F(ProbeKernelTest, IoUringDisabledSysctlFactMatchesStat) {
  struct stat st {};
  EXPECT_EQ(fact("sysctl.kernel.io_uring_disabled"), stat("/proc/sys/kernel/io_uring_disabled", &st) == 0);
}

}  // namespace
}  // namespace aioh
