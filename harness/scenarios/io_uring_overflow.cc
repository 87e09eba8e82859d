// CQ overflow and forks. With IORING_FEAT_NODROP the kernel keeps CQEs that
// do not fit the CQ ring on an overflow list (IORING_SQ_CQ_OVERFLOW set) and
// delivers them once there is room, so every submitted request is reaped
// exactly once and the CQ ring's overflow counter stays 0. A fork with
// requests in flight: the child exiting does not end the parent's pending
// request, and a child of a ring without SINGLE_ISSUER may submit on it.
#include <poll.h>
#include <sys/wait.h>

#include <set>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// NOPs submitted in SQ-sized batches without reaping. Observes: whether
// the overflow flag was seen (1/0), the number of distinct CQEs reaped, the
// CQ ring's dropped counter.
AIOH_SCENARIO(uring_cq_overflow,
              aioh::param::integer("entries", 4, "SQ entries of the ring", 1, 4096),
              aioh::param::optional_integer("cq_entries", "CQ entries (IORING_SETUP_CQSIZE; absent: twice entries)", 1,
                                            65536),
              aioh::param::integer("total", 32, "NOPs submitted before reaping", 1, 65536)) {
  const unsigned entries = static_cast<unsigned>(ctx.num("entries"));
  const unsigned total = static_cast<unsigned>(ctx.num("total"));
  IoUringBackend& be = backend(ctx);
  SetupParams sp;
  sp.entries = entries;
  if (ctx.has("cq_entries")) sp.cq_entries = static_cast<unsigned>(ctx.num("cq_entries"));
  Outcome so = be.setup(sp);
  if (so.is_error) ctx.broken("setup: " + so.str());
  io_uring& ring = be.ring();
  bool overflow_seen = false;
  unsigned submitted = 0;
  uint64_t tag = 1;
  while (submitted < total) {
    unsigned batch = std::min(entries, total - submitted);
    for (unsigned i = 0; i < batch; ++i) {
      io_uring_sqe* s = io_uring_get_sqe(&ring);
      if (!s) ctx.broken("SQ full");
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, tag++);
    }
    Outcome o = be.submit_queued();
    if (o.is_error) {
      // Older kernels refused submission while the overflow list was
      // non-empty (-EBUSY); that is an observation, not a setup problem.
      ctx.observe(o);
      break;
    }
    submitted += static_cast<unsigned>(o.value);
    if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
      overflow_seen = true;
  }
  ctx.observe(Outcome::ok(overflow_seen ? 1 : 0, Channel::ret, Phase::submit));
  std::vector<RawCqe> got;
  Outcome w = be.reap(submitted, ms(5000), got);
  if (w.is_error) ctx.observe(w);
  std::set<uint64_t> distinct;
  bool all_ok = true;
  for (const RawCqe& c : got) {
    distinct.insert(c.user_data);
    all_ok = all_ok && c.res == 0;
  }
  ctx.check(all_ok, "a NOP completed with a non-zero res");
  ctx.check(distinct.size() == got.size(), "a CQE was delivered twice");
  ctx.observe(Outcome::ok(static_cast<int64_t>(distinct.size()), Channel::ret,
                          Phase::wait));
  ctx.observe(Outcome::ok(IO_URING_READ_ONCE(*ring.cq.koverflow), Channel::ret,
                          Phase::wait));
}

// The overflow backlog and IORING_ENTER_GETEVENTS: 16 NOPs on a CQ ring of
// 8, none reaped; IORING_FEAT_NODROP keeps the 8 that do not fit on the
// overflow list and sets IORING_SQ_CQ_OVERFLOW. Reaping the 8 in the ring
// without entering the kernel moves nothing; an io_uring_enter with
// GETEVENTS flushes the backlog into the freed slots and clears the flag.
// Observes: the flag after the burst (1/0), CQEs in the ring, the flag after
// reaping them, CQEs after the GETEVENTS enter, the flag then, the dropped
// counter. mode wait-over-cq: instead, with the CQ ring full and the backlog
// behind it, a GETEVENTS enter for 16 completions (twice the CQ ring) with a
// 100 ms timeout: its answer and when it came (kernels up to 6.1 refused a
// wait whose backlog could not be flushed, io_cqring_wait() -EBUSY).
AIOH_SCENARIO(uring_overflow_getevents,
              aioh::param::choice("mode", "flush", {"flush", "wait-over-cq"}, "what is done with the backlog")) {
  IoUringBackend& be = backend(ctx);
  SetupParams sp;
  sp.entries = 4;
  Outcome so = be.setup(sp);
  if (so.is_error) ctx.broken("setup: " + so.str());
  io_uring& ring = be.ring();
  uint64_t tag = 1;
  for (int batch = 0; batch < 4; ++batch) {
    for (int i = 0; i < 4; ++i) {
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, tag++);
    }
    submit_n(ctx, be, 4);
  }
  auto flag = [&] {
    return Outcome::ok((IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) ? 1 : 0, Channel::ret,
                       Phase::completion);
  };
  ctx.observe(flag());
  if (ctx.str("mode") == "wait-over-cq") {
    __kernel_timespec ts = kms(100);
    io_uring_getevents_arg arg{};
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = reinterpret_cast<uint64_t>(&ts);
    timing::Stopwatch sw;
    arm_errno();
    int ret = io_uring_enter2(static_cast<unsigned>(ring.ring_fd), 0, 16,
                              IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, reinterpret_cast<sigset_t*>(&arg),
                              sizeof arg);
    int e = errno;
    const double took = sw.ms();
    Outcome o = be.liburing_ret(ret, e, Phase::wait, "io_uring_enter");
    // min_complete is capped at the CQ ring size, which is full: at once.
    timing::observe_wait(ctx, o, took, 100, true);
    std::vector<RawCqe> all;
    be.reap(16, ms(2000), all);
    ctx.check(all.size() == 16, "reaped " + std::to_string(all.size()) + " of 16 CQEs");
    return;
  }
  // Reap what the ring holds, without entering the kernel.
  unsigned head, n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring, head, cqe) { ++n; }
  io_uring_cq_advance(&ring, n);
  ctx.observe(Outcome::ok(n, Channel::ret, Phase::completion));
  ctx.observe(flag());
  arm_errno();
  int ret = io_uring_enter(static_cast<unsigned>(ring.ring_fd), 0, 0, IORING_ENTER_GETEVENTS, nullptr);
  ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_enter(GETEVENTS)"));
  ctx.observe(Outcome::ok(io_uring_cq_ready(&ring), Channel::ret, Phase::completion));
  ctx.observe(flag());
  ctx.observe(Outcome::ok(IO_URING_READ_ONCE(*ring.cq.koverflow), Channel::ret, Phase::completion));
}

// A poll on an empty pipe is in flight when the process forks; then the
// parent makes the pipe readable and reaps.
AIOH_URING_CHOICE_SCENARIO(uring_fork_inflight, 8, child, "exit",
                           "the child just exits, or submits a NOP on the inherited ring first",
                           "exit", "submit") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_poll_add(s, p.r(), POLLIN);
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  int rep[2];
  if (pipe(rep) != 0) ctx.broken("pipe");
  pid_t pid = fork();
  if (pid < 0) ctx.broken("fork");
  if (pid == 0) {
    long r[2] = {0, kErrnoSentinel};
    if (child == "submit") {
      io_uring_sqe* c = io_uring_get_sqe(&be.ring());
      io_uring_prep_nop(c);
      io_uring_sqe_set_data64(c, 2);
      errno = kErrnoSentinel;
      r[0] = io_uring_submit(&be.ring());
      r[1] = errno;
    }
    ssize_t n = write(rep[1], r, sizeof r);
    _exit(n == sizeof r ? 0 : 1);
  }
  close(rep[1]);
  long r[2] = {0, 0};
  ssize_t n = read(rep[0], r, sizeof r);
  close(rep[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (n != sizeof r || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    ctx.broken("child did not report");
  if (child == "submit")
    ctx.observe(be.liburing_ret(r[0], static_cast<int>(r[1]), Phase::submit,
                                "io_uring_submit in the child"));
  unsigned want = 1;
  if (child == "submit" && r[0] == 1) {
    // The child's NOP completes on the shared CQ ring.
    observe_cqes(ctx, reap(ctx, be, 1));
  }
  // The parent's poll survived the fork and the child's exit.
  if (write(p.w(), "x", 1) != 1) ctx.broken("pipe write");
  observe_cqes(ctx, reap(ctx, be, want));
}

}  // namespace
}  // namespace aioh
