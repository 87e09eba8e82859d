// The io_uring backend's normalisation, checked on real calls: values and
// errno names land on the right channel and phase (cqe->res at completion,
// liburing's -errno at setup/submit/wait), a timed-out wait is liburing's
// own ETIME@wait, every liburing wait call is recorded with its timing,
// cancel answers come from the ASYNC_CANCEL CQE while other CQEs seen
// meanwhile are kept for the next wait and the backend's own CQEs never
// surface, kernel-internal codes keep their kernel names, and a convention
// breach (errno touched) is logged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "backends/io_uring_backend.h"
#include "convention.h"
#include "pattern.h"
#include "test_util.h"

namespace aioh {
namespace {

bool uring_usable() {
  io_uring ring{};
  if (io_uring_queue_init(4, &ring, 0) < 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

class IoUringBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!uring_usable()) GTEST_SKIP() << "io_uring_setup refused on this machine";
    be_ = std::make_unique<IoUringBackend>();
    Outcome o = be_->setup(SetupParams{});
    ASSERT_FALSE(o.is_error) << o.str();
    EXPECT_EQ(o.phase, Phase::setup);
    EXPECT_EQ(o.channel, Channel::ret);
  }
  void TearDown() override {
    if (be_) {
      be_->teardown();
      EXPECT_TRUE(be_->conventions().breaches.empty())
          << be_->conventions().breaches.front();
    }
  }
  int pattern_file(size_t size) {
    file_ = std::make_unique<test::PatternFile>(size);
    return file_->fd;
  }
  std::unique_ptr<IoUringBackend> be_;
  std::unique_ptr<test::PatternFile> file_;
};

TEST_F(IoUringBackendTest, ReadGivesLengthOnCqeResAtCompletion) {
  AlignedBuffer buf(4096);
  Request r = test::read_req(pattern_file(16384), buf.data(), 4096, 4096, 42);
  test::OneShot o = test::submit_and_reap(*be_, r, 4);
  EXPECT_EQ(o.submit.str(), "1@submit");
  EXPECT_EQ(o.submit.channel, Channel::ret);
  EXPECT_EQ(o.wait.str(), "1@wait");
  const std::vector<Completion>& out = o.out;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tag, 42u);
  EXPECT_EQ(out[0].result.str(), "4096@completion");
  EXPECT_EQ(out[0].result.channel, Channel::cqe_res);
  EXPECT_EQ(verify_buffer(buf.data(), 4096, kFileSeed, 4096), "");
}

TEST_F(IoUringBackendTest, BadFdIsEbadfAtCompletionNotAtSubmit) {
  int fd = open("/dev/null", O_RDONLY);
  close(fd);
  char buf[64];
  Request r = test::read_req(fd, buf, sizeof buf, 0, 7);
  EXPECT_EQ(be_->submit({&r}).str(), "1@submit");
  std::vector<Completion> out;
  be_->wait(1, 1, timespec{5, 0}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.str(), "EBADF@completion");
  EXPECT_EQ(out[0].result.channel, Channel::cqe_res);
}

TEST_F(IoUringBackendTest, WaitWithNothingPendingTimesOutWithEtime) {
  std::vector<Completion> out;
  Outcome w = be_->wait(1, 1, timespec{0, 1000000}, out);
  EXPECT_EQ(w.str(), "ETIME@wait");
  EXPECT_EQ(w.channel, Channel::ret);
  EXPECT_TRUE(out.empty());
}

TEST_F(IoUringBackendTest, TimeoutStillReturnsTheReadyOnes) {
  Request nop;
  nop.op = Op::nop;
  nop.tag = 1;
  ASSERT_EQ(be_->submit({&nop}).str(), "1@submit");
  std::vector<Completion> out;
  Outcome w = be_->wait(2, 4, timespec{0, 5000000}, out);
  EXPECT_EQ(w.str(), "ETIME@wait");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.str(), "0@completion");
}

TEST_F(IoUringBackendTest, TimedOutWaitIsLiburingsOwnAnswerAndIsRecorded) {
  std::vector<Completion> out;
  Outcome w = be_->wait(1, 4, timespec{0, 20000000}, out);
  EXPECT_EQ(w.str(), "ETIME@wait");
  // One liburing call made the answer: its -ETIME, after the 20 ms it was given.
  ASSERT_EQ(be_->wait_calls().size(), 1u);
  EXPECT_EQ(be_->wait_calls()[0].ret, -ETIME);
  EXPECT_EQ(be_->wait_calls()[0].wait_nr, 1u);
  EXPECT_GE(be_->wait_calls()[0].elapsed_ms, 19.0);
}

TEST_F(IoUringBackendTest, ReadyCompletionsNeedNoLiburingWait) {
  Request nop;
  nop.op = Op::nop;
  ASSERT_EQ(be_->submit({&nop}).str(), "1@submit");
  std::vector<Completion> out;
  EXPECT_EQ(be_->wait(1, 4, timespec{5, 0}, out).str(), "1@wait");
  EXPECT_TRUE(be_->wait_calls().empty());
}

TEST_F(IoUringBackendTest, MinZeroHarvestsWithoutBlocking) {
  std::vector<Completion> out;
  EXPECT_EQ(be_->wait(0, 4, std::nullopt, out).str(), "0@wait");
  Request nop;
  nop.op = Op::nop;
  ASSERT_EQ(be_->submit({&nop}).str(), "1@submit");
  // A NOP completes inline during submit, so it is ready now.
  EXPECT_EQ(be_->wait(0, 4, std::nullopt, out).str(), "1@wait");
}

TEST_F(IoUringBackendTest, CancelAnswersFromTheCancelCqeAndStashesOthers) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Request poll_req = test::pollin_req(p[0], 2);
  Request nop;
  nop.op = Op::nop;
  nop.tag = 1;
  ASSERT_EQ(be_->submit({&nop, &poll_req}).str(), "2@submit");
  Outcome c = be_->cancel(poll_req);
  EXPECT_EQ(c.str(), "0@cancel");
  EXPECT_EQ(c.channel, Channel::cqe_res);
  std::vector<Completion> out;
  EXPECT_EQ(be_->wait(2, 8, timespec{5, 0}, out).str(), "2@wait");
  ASSERT_EQ(out.size(), 2u);
  for (const Completion& x : out) {
    EXPECT_EQ(x.tag & kUringInternalTag, 0u) << "internal CQE leaked";
    if (x.tag == 1) {
      EXPECT_EQ(x.result.str(), "0@completion");
    }
    if (x.tag == 2) {
      EXPECT_EQ(x.result.str(), "ECANCELED@completion");
    }
  }
  EXPECT_EQ(be_->cancel(poll_req).str(), "ENOENT@cancel");
  close(p[0]);
  close(p[1]);
}

TEST_F(IoUringBackendTest, RawOpcodeAndRwFlagsReachTheSqe) {
  int fd = pattern_file(4096);
  char buf[512];
  Request bad_op;
  bad_op.op = Op::nop;
  bad_op.raw_opcode = 250;
  bad_op.tag = 1;
  Request bad_flags = test::read_req(fd, buf, sizeof buf, 0, 2);
  bad_flags.rw_flags = 0x40000000;
  // Separately: without IORING_SETUP_SUBMIT_ALL the kernel stops a batch
  // after an SQE that fails at init (the unknown opcode).
  ASSERT_EQ(be_->submit({&bad_op}).str(), "1@submit");
  ASSERT_EQ(be_->submit({&bad_flags}).str(), "1@submit");
  std::vector<Completion> out;
  be_->wait(2, 2, timespec{5, 0}, out);
  ASSERT_EQ(out.size(), 2u);
  for (const Completion& x : out) {
    if (x.tag == 1) {
      EXPECT_EQ(x.result.str(), "EINVAL@completion");
    }
    if (x.tag == 2) {
      EXPECT_EQ(x.result.str(), "EOPNOTSUPP@completion");
    }
  }
}

TEST(IoUringBackend, SetupErrorIsNegErrnoOnReturnChannel) {
  if (!uring_usable()) GTEST_SKIP() << "io_uring_setup refused on this machine";
  IoUringBackend be;
  SetupParams p;
  p.entries = 0;
  Outcome o = be.setup(p);
  EXPECT_EQ(o.str(), "EINVAL@setup");
  EXPECT_EQ(o.channel, Channel::ret);
  EXPECT_TRUE(be.conventions().breaches.empty());
  EXPECT_FALSE(be.is_setup());
}

TEST(IoUringBackend, KernelInternalResKeepsItsKernelName) {
  Outcome o = IoUringBackend::res_outcome(-512);
  EXPECT_TRUE(o.is_error);
  EXPECT_EQ(o.str(), "ERESTARTSYS@completion");
  EXPECT_EQ(IoUringBackend::res_outcome(-529).token(), "EIOCBQUEUED");
}

TEST(IoUringBackend, ErrnoTouchedByLiburingIsABreach) {
  IoUringBackend be;
  // As if a liburing call returned -EINVAL but also set errno.
  Outcome o = be.liburing_ret(-EINVAL, EPERM, Phase::submit, "io_uring_submit");
  EXPECT_EQ(o.str(), "EINVAL@submit");
  ASSERT_EQ(be.conventions().breaches.size(), 1u);
  EXPECT_NE(be.conventions().breaches[0].find("io_uring_submit"), std::string::npos);
  // Untouched errno: no breach.
  be.liburing_ret(-EINVAL, kErrnoSentinel, Phase::submit, "io_uring_submit");
  EXPECT_EQ(be.conventions().breaches.size(), 1u);
}

TEST(IoUringBackend, TraitsAndTeardown) {
  IoUringBackend be;
  BackendTraits t = be.traits();
  EXPECT_TRUE(t.vectored && t.rw_flags && t.poll && t.nop);
  EXPECT_FALSE(t.pipe_read_blocks_submit);
  EXPECT_EQ(be.teardown().str(), "0@teardown");  // idempotent when not set up
}

}  // namespace
}  // namespace aioh
