// The glibc POSIX AIO backend normalises real calls: a pattern read completes
// with its length on Channel::aio_return, a bad fd is EBADF on
// Channel::aio_error at completion (glibc finds it in the worker), a wait
// that runs out is EAGAIN@wait, cancel answers are symbols. Convention
// breaches are shown by making the aiocb say what a broken glibc would
// (glibc's aio_error/aio_return only read these fields), and by a request
// that teardown cannot finish within its bound.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <sched.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "backends/posix_aio_backend.h"
#include "pattern.h"
#include "test_util.h"

using namespace aioh;

namespace {

// The kFileSeed pattern file these tests read (16 KiB unless told).
struct DataFile : test::PatternFile {
  explicit DataFile(size_t size = 16384) : test::PatternFile(size) {}
};

using test::read_req;

int closed_fd() {
  int fd = dup(STDIN_FILENO);
  close(fd);
  return fd;
}

// A set-up backend and one 64-byte read of the pattern file, not yet submitted.
struct PosixAioOneRead : ::testing::Test {
  DataFile f;
  PosixAioBackend be;
  char buf[64];
  Request r = read_req(f.fd, buf, sizeof buf, 0, 1);
  void SetUp() override { ASSERT_FALSE(be.setup({}).is_error); }
};

// True once some thread of this process sleeps in read(2) on `fd` (the
// glibc worker running the request), so aio_cancel cannot remove it.
bool worker_reading(int fd) {
  char want[32];
  snprintf(want, sizeof want, "0 0x%x ", fd);
  for (int spin = 0; spin < 5000000; spin++) {
    for (auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream in(t.path() / "syscall");
      std::string line;
      std::getline(in, line);
      if (line.rfind(want, 0) == 0) return true;
    }
    sched_yield();
  }
  return false;
}

}  // namespace

TEST(PosixAioBackend, SetupIsAioInit) {
  PosixAioBackend be;
  EXPECT_EQ(be.name(), "posix-aio");
  EXPECT_EQ(be.setup({}).str(), "0@setup");
  EXPECT_GE(be.aioinit_used().aio_threads, 1);
  BackendTraits t = be.traits();
  EXPECT_FALSE(t.vectored);
  EXPECT_TRUE(t.nop);
  EXPECT_FALSE(t.pipe_read_blocks_submit);
}

TEST(PosixAioBackend, PatternReadCompletesWithLengthOnAioReturn) {
  DataFile f;
  auto be = make_backend("posix-aio");
  ASSERT_FALSE(be->setup({}).is_error);
  AlignedBuffer buf(4096);
  Request r = read_req(f.fd, buf.data(), 4096, 8192, 7);
  test::OneShot o = test::submit_and_reap(*be, r);
  EXPECT_EQ(o.submit.str(), "1@submit");
  EXPECT_EQ(o.wait.str(), "1@wait");
  const std::vector<Completion>& out = o.out;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tag, 7u);
  EXPECT_FALSE(out[0].result.is_error);
  EXPECT_EQ(out[0].result.value, 4096);
  EXPECT_EQ(out[0].result.channel, Channel::aio_return);
  EXPECT_EQ(out[0].result.phase, Phase::completion);
  EXPECT_EQ(verify_buffer(buf.data(), 4096, kFileSeed, 8192), "");
  EXPECT_TRUE(be->conventions().breaches.empty());
}

TEST(PosixAioBackend, BadFdIsEbadfOnAioErrorAtCompletion) {
  auto be = make_backend("posix-aio");
  ASSERT_FALSE(be->setup({}).is_error);
  char buf[64];
  Request r = read_req(closed_fd(), buf, sizeof buf, 0, 1);
  EXPECT_EQ(be->submit({&r}).str(), "1@submit");  // glibc does not look at the fd
  std::vector<Completion> out;
  EXPECT_EQ(be->wait(1, 1, timespec{5, 0}, out).str(), "1@wait");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].result.is_error);
  EXPECT_EQ(out[0].result.err, EBADF);
  EXPECT_EQ(out[0].result.channel, Channel::aio_error);
  EXPECT_EQ(out[0].result.str(), "EBADF@completion");
  EXPECT_TRUE(be->conventions().breaches.empty());
}

TEST(PosixAioBackend, WaitWithNothingCompleteTimesOutAsEagain) {
  PosixAioBackend be;
  ASSERT_FALSE(be.setup({}).is_error);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  char buf[8];
  Request r = read_req(p[0], buf, sizeof buf, 0, 3);
  EXPECT_EQ(be.submit({&r}).str(), "1@submit");
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, timespec{0, 1000000}, out);
  EXPECT_EQ(w.str(), "EAGAIN@wait");
  EXPECT_EQ(w.channel, Channel::errno_);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(be.outstanding(), 1u);
  ASSERT_EQ(write(p[1], "abcdefgh", 8), 8);
  EXPECT_EQ(be.wait(1, 1, timespec{5, 0}, out).str(), "1@wait");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.str(), "8@completion");
  EXPECT_TRUE(be.conventions().breaches.empty());
  close(p[0]);
  close(p[1]);
}

TEST_F(PosixAioOneRead, ReqprioAboveMaxRefusedAtSubmit) {
  r.reqprio = 21;  // AIO_PRIO_DELTA_MAX is 20
  Outcome s = be.submit({&r});
  EXPECT_EQ(s.str(), "EINVAL@submit");
  EXPECT_EQ(s.channel, Channel::errno_);
  EXPECT_EQ(be.outstanding(), 0u);
  EXPECT_TRUE(be.conventions().breaches.empty());
}

TEST_F(PosixAioOneRead, CancelAnswersAreSymbols) {
  ASSERT_EQ(be.submit({&r}).str(), "1@submit");
  std::vector<Completion> out;
  ASSERT_EQ(be.wait(1, 1, timespec{5, 0}, out).str(), "1@wait");
  Outcome c = be.cancel(r);
  EXPECT_EQ(c.str(), "AIO_ALLDONE@cancel");
  EXPECT_EQ(c.value, AIO_ALLDONE);
  EXPECT_EQ(be.cancel_raw(closed_fd(), nullptr).str(), "EBADF@cancel");
  EXPECT_TRUE(be.conventions().breaches.empty());
}

// Submits r, lets glibc finish it, then overwrites the return value glibc
// keeps for it (what a glibc with that defect would hand back) and reaps it.
std::vector<Completion> reap_with_forged_return(PosixAioBackend& be, Request& r, ssize_t forged) {
  std::vector<Completion> out;
  EXPECT_EQ(be.submit({&r}).str(), "1@submit");
  const aiocb* l[1] = {be.control_block(r.tag)};
  while (aio_error(l[0]) == EINPROGRESS) aio_suspend(l, 1, nullptr);
  be.control_block(r.tag)->__return_value = forged;
  be.wait(1, 1, timespec{5, 0}, out);
  return out;
}

TEST(PosixAioBackend, ErrorStatusWithoutMinusOneReturnIsABreach) {
  PosixAioBackend be;
  ASSERT_FALSE(be.setup({}).is_error);
  char buf[64];
  Request r = read_req(closed_fd(), buf, sizeof buf, 0, 1);
  // What a glibc that paired an error status with a byte count would show.
  std::vector<Completion> out = reap_with_forged_return(be, r, 5);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.str(), "EBADF@completion");
  EXPECT_TRUE(test::any_contains(be.conventions().breaches, "must be -1")) << be.conventions().breaches.size();
}

TEST_F(PosixAioOneRead, ReturnBeyondNbytesIsABreach) {
  std::vector<Completion> out = reap_with_forged_return(be, r, 65);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(test::any_contains(be.conventions().breaches, "more than aio_nbytes"));
}

TEST(PosixAioBackend, TeardownGivesUpOnAStuckRequestWithABreach) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  static char buf[8];  // outlives the backend: glibc still owns the request
  {
    PosixAioBackend be;
    ASSERT_FALSE(be.setup({}).is_error);
    Request r = read_req(p[0], buf, sizeof buf, 0, 1);
    ASSERT_EQ(be.submit({&r}).str(), "1@submit");
    // An idle worker left by an earlier test may pick the request up late;
    // until it does, teardown's aio_cancel would simply remove it.
    ASSERT_TRUE(worker_reading(p[0]));
    be.set_teardown_bound_ms(50);
    EXPECT_EQ(be.teardown().str(), "0@teardown");
    EXPECT_TRUE(test::any_contains(be.conventions().breaches, "still in progress"));
  }
  // Let the abandoned request finish so its worker thread ends.
  ASSERT_EQ(write(p[1], "abcdefgh", 8), 8);
}

TEST(PosixAioBackend, HarnessRunsThePosixRows) {
  auto r = test::run_cmd(test::harness_bin() + " --cases " + test::cases_dir() +
                         " --interface posix-aio --filter 'posix-status.*' --filter 'posix-cancel.*'"
                         " --filter 'posix-submit.*'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("FAIL "), std::string::npos) << r.out;
}
