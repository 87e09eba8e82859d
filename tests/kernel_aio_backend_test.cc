// The kernel-aio backend normalises real io_* system calls: errors arrive as
// -1 and errno (Channel::errno_) in the call's phase, per-request results in
// io_event.res (Channel::io_event_res); what every backend does alike (a read's
// length and bytes) is tests/backend_suite_test.cc.
// Every call here is a real call on this kernel; none may log a breach.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "backends/kernel_aio_backend.h"
#include "pattern.h"
#include "test_util.h"

using namespace aioh;

TEST(KernelAioBackend, ReadErrorArrivesInIoEventRes) {
  test::PatternFile f(4096);
  auto be = make_backend("kernel-aio");
  ASSERT_FALSE(be->setup({}).is_error);
  // Never mapped: the copy faults.
  Request r = test::read_req(f.fd, reinterpret_cast<void*>(16), 4096, 0, 0);
  test::OneShot o = test::submit_and_reap(*be, r);
  EXPECT_EQ(o.submit.str(), "1@submit");
  ASSERT_EQ(o.wait.str(), "1@wait");
  EXPECT_EQ(o.out.at(0).result.str(), "EFAULT@completion");
  EXPECT_EQ(o.out.at(0).result.channel, Channel::io_event_res);
}

TEST(KernelAioBackend, PendingPollCancelIsEinprogress) {
  auto be = make_backend("kernel-aio");
  ASSERT_FALSE(be->setup({}).is_error);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Request r = test::pollin_req(p[0], 3);
  EXPECT_EQ(be->submit({&r}).str(), "1@submit");
  std::vector<Completion> out;
  EXPECT_EQ(be->wait(0, 1, timespec{0, 0}, out).str(), "0@wait");
  EXPECT_EQ(be->cancel(r).str(), "EINPROGRESS@cancel");
  ASSERT_EQ(be->wait(1, 1, timespec{5, 0}, out).str(), "1@wait");
  EXPECT_EQ(out.at(0).tag, 3u);
  EXPECT_EQ(out.at(0).result.str(), "0@completion");
  close(p[0]);
  close(p[1]);
}

TEST(KernelAioBackend, TraitsMatchTheKernel) {
  auto be = make_backend("kernel-aio");
  BackendTraits t = be->traits();
  EXPECT_TRUE(t.vectored);
  EXPECT_TRUE(t.poll);
  // IOCB_CMD_NOOP is not implemented: nop must be false because of this.
  EXPECT_FALSE(t.nop);
  ASSERT_FALSE(be->setup({}).is_error);
  Request r;
  r.op = Op::nop;
  r.fd = 0;
  EXPECT_EQ(be->submit({&r}).str(), "EINVAL@submit");
  EXPECT_TRUE(t.pipe_read_blocks_submit);
}

TEST(KernelAioBackend, DestructorTearsDown) {
  AioContext ctx = 0;
  {
    auto be = std::make_unique<KernelAioBackend>();
    ASSERT_FALSE(be->setup({}).is_error);
    ctx = be->context();
  }
  // The destructor ran io_destroy: the context is gone.
  EXPECT_EQ(syscall(SYS_io_destroy, ctx), -1);
  EXPECT_EQ(errno, EINVAL);
}
