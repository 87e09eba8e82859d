// What io_uring_enter(2) and liburing's wait calls return, and when. Plain
// io_uring_enter: to_submit is capped by what is queued, min_complete means
// nothing without IORING_ENTER_GETEVENTS and is capped at the CQ ring size,
// a short submit skips the GETEVENTS wait, an SQ array entry past sq_entries
// is dropped (counted in sq_off.dropped) and stops submission.
// liburing: io_uring_wait_cqes() for more CQEs than arrive returns 0 after
// its timeout (the kernel answers 0, not -ETIME, when the CQ ring is not
// empty), wait_nr 0 is -EAGAIN, a timed wait does not submit (with
// IORING_FEAT_EXT_ARG; without it liburing queues its own timeout SQE and
// submits what is queued), io_uring_submit_and_wait_timeout() does and
// returns the number submitted. Signals end a wait with -EINTR even under
// SA_RESTART unless the wait's own sigmask blocks them. The min-wait of
// struct io_uring_getevents_arg (IORING_FEAT_MIN_TIMEOUT, 6.12). Every wait
// is timed (wait_timing.h); where the point is when a wait ends, the moment
// it ended is observed as the milestone it matched (0, the min-wait, the
// timeout), so the row states it.
#include <poll.h>
#include <signal.h>
#include <time.h>

#include "backends/io_uring_raw.h"
#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/kaio_util.h"  // SignalTimer: a SIGALRM that counts its deliveries
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// The largest milestone m (ms) with m - granularity <= elapsed <= m + slack,
// or -1 when none fits: when a wait ended, as a value a row can state.
int64_t milestone(const CaseContext& ctx, double elapsed, std::initializer_list<long> marks) {
  int64_t best = -1;
  const double slack = timing::slack_ms(ctx.env());
  for (long m : marks)
    if (elapsed + timing::kClockGranularityMs >= m && elapsed <= m + slack && m > best) best = m;
  return best;
}

void observe_milestone(CaseContext& ctx, double elapsed, std::initializer_list<long> marks) {
  int64_t m = milestone(ctx, elapsed, marks);
  if (m < 0) ctx.note("the wait ended after " + std::to_string(elapsed) + " ms, at none of its milestones");
  ctx.observe(Outcome::ok(m, Channel::ret, Phase::wait), elapsed);
}

void queue_nops(CaseContext& ctx, IoUringBackend& be, unsigned n, uint64_t first_tag, bool async = false) {
  for (unsigned i = 0; i < n; ++i) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    if (async) s->flags |= IOSQE_ASYNC;
    io_uring_sqe_set_data64(s, first_tag + i);
  }
}

Outcome enter(IoUringBackend& be, unsigned to_submit, unsigned min_complete, unsigned flags, Phase phase,
              const void* arg = nullptr, size_t argsz = 0) {
  arm_errno();
  int r = io_uring_enter2(static_cast<unsigned>(be.ring().ring_fd), to_submit, min_complete, flags,
                          static_cast<sigset_t*>(const_cast<void*>(arg)), argsz);
  return be.liburing_ret(r, errno, phase, "io_uring_enter");
}

// Makes liburing's view of the SQ tail visible to the kernel without
// entering it (io_uring_submit would enter).
unsigned flush_sq(IoUringBackend& be) {
  io_uring& r = be.ring();
  const unsigned n = r.sq.sqe_tail - r.sq.sqe_head;
  io_uring_smp_store_release(r.sq.ktail, r.sq.sqe_tail);
  r.sq.sqe_head = r.sq.sqe_tail;
  return n;
}

// io_uring_enter(2) called directly. mode:
//  submit-only (2 NOPs, to_submit 2, no flags: 2, both CQEs posted inline) |
//  submit-more-than-queued (2 queued, to_submit 8: 2) |
//  min-without-getevents (a poll that never completes, min_complete 1
//    without GETEVENTS: returns 1 at once) |
//  getevents-min-zero (GETEVENTS, min_complete 0, nothing pending: 0 at once) |
//  min-over-cq (16 CQEs fill the CQ ring of 16; min_complete 100 is capped
//    at 16, so the wait returns at once instead of waiting out 1 s) |
//  getevents-short-submit (a read of an empty pipe, which never completes,
//    queued alone: to_submit 8, min_complete 1 with GETEVENTS returns the 1
//    submitted at once, without waiting; then no CQE is ready) |
//  sq-index-dropped (a raw ring of 4 without IORING_SETUP_NO_SQARRAY, three
//    NOPs queued whose middle SQ array entry names SQE 7, past sq_entries:
//    to_submit 3 answers 1, *sq.kdropped is 1 and the SQ head 2 (past the
//    bad entry); to_submit 1 then takes the third NOP: 1; the two CQEs)
AIOH_URING_CHOICE_SCENARIO(uring_enter_plain, 8, mode, "submit-only", "which io_uring_enter(2) rule",
                           "submit-only", "submit-more-than-queued", "min-without-getevents", "getevents-min-zero",
                           "min-over-cq", "getevents-short-submit", "sq-index-dropped") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  if (mode == "submit-only" || mode == "submit-more-than-queued") {
    queue_nops(ctx, be, 2, 1);
    const unsigned n = flush_sq(be);
    timing::Stopwatch sw;
    Outcome o = enter(be, mode == "submit-only" ? n : 8, 0, 0, Phase::submit);
    timing::observe_wait(ctx, o, sw.ms(), -1, true);
    ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret, Phase::completion));
    reap(ctx, be, 2);
    return;
  }
  if (mode == "min-without-getevents") {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_poll_add(s, p.r(), POLLIN);
    io_uring_sqe_set_data64(s, 1);
    flush_sq(be);
    timing::Stopwatch sw;
    Outcome o = enter(be, 1, 1, 0, Phase::submit);
    timing::observe_wait(ctx, o, sw.ms(), -1, true);
    ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret, Phase::completion));
    return;
  }
  if (mode == "getevents-short-submit") {
    io_uring_sqe* s = sqe(ctx, be);
    static char byte;
    io_uring_prep_read(s, p.r(), &byte, 1, 0);
    io_uring_sqe_set_data64(s, 1);
    flush_sq(be);
    timing::Stopwatch sw;
    Outcome o = enter(be, 8, 1, IORING_ENTER_GETEVENTS, Phase::submit);
    timing::observe_wait(ctx, o, sw.ms(), -1, true);
    ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret, Phase::completion));
    return;
  }
  if (mode == "sq-index-dropped") {
    rawring::Ring r;
    if (r.create(4, 0) != 0) ctx.broken("raw ring: " + std::to_string(r.err));
    for (uint64_t tag = 1; tag <= 3; ++tag)
      if (!r.queue_nop(tag)) ctx.broken("no SQ slot on a new ring");
    r.u32(r.p.sq_off.array)[1] = r.p.sq_entries + 3;  // the second NOP's entry
    auto entered = [&](unsigned n) {
      long ret = r.enter_ring(n, 0, 0);
      ctx.observe(ret < 0 ? Outcome::error(errno, Channel::errno_, Phase::submit)
                          : Outcome::ok(ret, Channel::ret, Phase::submit));
    };
    entered(3);
    ctx.observe(Outcome::ok(std::atomic_ref<unsigned>(*r.u32(r.p.sq_off.dropped)).load(), Channel::ret,
                            Phase::submit));
    ctx.observe(Outcome::ok(std::atomic_ref<unsigned>(*r.u32(r.p.sq_off.head)).load(), Channel::ret,
                            Phase::submit));
    entered(1);
    std::vector<uint64_t> tags;
    for (int tries = 0; tries < 1000 && tags.size() < 2; ++tries) {
      uint64_t tag = 0;
      int32_t res = 1;
      if (r.pop(tag, res)) {
        tags.push_back(tag);
        ctx.observe(IoUringBackend::res_outcome(res));
      } else {
        usleep(1000);
      }
    }
    ctx.check(tags == std::vector<uint64_t>{1, 3}, "the CQEs are not those of the first and third NOPs");
    return;
  }
  if (mode == "getevents-min-zero") {
    timing::Stopwatch sw;
    Outcome o = enter(be, 0, 0, IORING_ENTER_GETEVENTS, Phase::wait);
    timing::observe_wait(ctx, o, sw.ms(), -1, true);
    return;
  }
  // min-over-cq: two batches of 8 NOPs, none reaped: the CQ ring (16) is full.
  for (int batch = 0; batch < 2; ++batch) {
    queue_nops(ctx, be, 8, 1 + 8 * batch);
    submit_n(ctx, be, 8);
  }
  __kernel_timespec ts = kms(1000);
  io_uring_getevents_arg arg{};
  arg.sigmask_sz = _NSIG / 8;
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  timing::Stopwatch sw;
  Outcome o = enter(be, 0, 100, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, Phase::wait, &arg, sizeof arg);
  const double took = sw.ms();
  ctx.observe(o, took);
  observe_milestone(ctx, took, {0, 1000});
  ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret, Phase::completion));
}

// liburing's waits. mode:
//  wait-cqes-fewer (1 CQE ready, io_uring_wait_cqes for 2 with a 200 ms
//    timeout: its answer, when it came, how many CQEs are ready) |
//  wait-nr-zero (io_uring_wait_cqes for 0 with a timeout, nothing pending) |
//  peek-empty (io_uring_peek_cqe on an empty CQ ring) |
//  timeout-zero (io_uring_wait_cqe_timeout with a zero timeout, nothing pending) |
//  ready-at-once (a completed NOP, io_uring_wait_cqe_timeout of 1 s) |
//  timed-wait-queued (a NOP queued, not submitted: io_uring_wait_cqe_timeout
//    of 100 ms, then how many SQEs are still queued) |
//  submit-and-wait-timeout (a NOP queued: io_uring_submit_and_wait_timeout
//    for 1 with 1 s, whether it gave a CQE) |
//  submit-and-wait-timeout-expires (a poll that never completes queued:
//    io_uring_submit_and_wait_timeout for 1 with 100 ms, whether it gave a CQE)
AIOH_SCENARIO(uring_wait_lib,
              aioh::param::choice("mode", "wait-cqes-fewer",
                                  {"wait-cqes-fewer", "wait-nr-zero", "peek-empty", "timeout-zero",
                                   "ready-at-once", "timed-wait-queued", "submit-and-wait-timeout",
                                   "submit-and-wait-timeout-expires"},
                                  "which liburing wait")) {
  IoUringBackend& be = up(ctx, 8);
  io_uring& ring = be.ring();
  const std::string mode = ctx.str("mode");
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  io_uring_cqe* cqe = nullptr;
  auto lib = [&](int ret, int e, const char* call) { return be.liburing_ret(ret, e, Phase::wait, call); };
  if (mode == "wait-cqes-fewer" || mode == "ready-at-once") {
    queue_nops(ctx, be, 1, 1);
    submit_n(ctx, be, 1);
    const long t = mode == "ready-at-once" ? 1000 : 200;
    __kernel_timespec ts = kms(t);
    timing::Stopwatch sw;
    arm_errno();
    int ret = mode == "ready-at-once" ? io_uring_wait_cqe_timeout(&ring, &cqe, &ts)
                                      : io_uring_wait_cqes(&ring, &cqe, 2, &ts, nullptr);
    const double took = sw.ms();
    ctx.observe(lib(ret, errno, "io_uring_wait_cqes"), took);
    observe_milestone(ctx, took, {0, t});
    ctx.observe(Outcome::ok(io_uring_cq_ready(&ring), Channel::ret, Phase::completion));
    return;
  }
  if (mode == "wait-nr-zero" || mode == "timeout-zero") {
    __kernel_timespec ts = kms(mode == "timeout-zero" ? 0 : 100);
    timing::Stopwatch sw;
    arm_errno();
    int ret = mode == "timeout-zero" ? io_uring_wait_cqe_timeout(&ring, &cqe, &ts)
                                     : io_uring_wait_cqes(&ring, &cqe, 0, &ts, nullptr);
    timing::observe_wait(ctx, lib(ret, errno, "io_uring_wait_cqes"), sw.ms(), -1, true);
    return;
  }
  if (mode == "peek-empty") {
    arm_errno();
    int ret = io_uring_peek_cqe(&ring, &cqe);
    ctx.observe(lib(ret, errno, "io_uring_peek_cqe"));
    return;
  }
  if (mode == "timed-wait-queued") {
    queue_nops(ctx, be, 1, 1);
    __kernel_timespec ts = kms(100);
    timing::Stopwatch sw;
    arm_errno();
    int ret = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
    const double took = sw.ms();
    ctx.observe(lib(ret, errno, "io_uring_wait_cqe_timeout"), took);
    observe_milestone(ctx, took, {0, 100});
    ctx.observe(Outcome::ok(io_uring_sq_ready(&ring), Channel::ret, Phase::submit));
    // Whatever was left queued goes now; every CQE is accounted for.
    Outcome s = be.submit_queued();
    ctx.observe(s);
    std::vector<RawCqe> got;
    be.reap(1, ms(1000), got);
    observe_cqes(ctx, got);
    return;
  }
  // submit-and-wait-timeout(-expires)
  const bool expires = mode == "submit-and-wait-timeout-expires";
  io_uring_sqe* s = sqe(ctx, be);
  if (expires) io_uring_prep_poll_add(s, p.r(), POLLIN);
  else io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 1);
  const long t = expires ? 100 : 1000;
  __kernel_timespec ts = kms(t);
  timing::Stopwatch sw;
  arm_errno();
  int ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
  const double took = sw.ms();
  ctx.observe(be.liburing_ret(ret, errno, Phase::submit, "io_uring_submit_and_wait_timeout"), took);
  observe_milestone(ctx, took, {0, t});
  ctx.observe(Outcome::ok(cqe != nullptr, Channel::ret, Phase::wait));
}

// A wait on an empty ring with SIGALRM arriving 50 ms after the timer is
// armed. SIGALRM stays blocked in the thread outside the wait, and the wait's
// own sigmask (IORING_ENTER_EXT_ARG through io_uring_wait_cqes) decides, as
// pselect(2) would: without `mask` it unblocks SIGALRM, so a signal that
// fired before the wait began (a busy machine) is pending and ends it at
// once rather than being handled before it; with `mask` it keeps SIGALRM
// blocked, so the wait runs its 300 ms out and the signal is delivered after,
// when the thread's mask is restored. sa_restart: the handler's SA_RESTART.
// Times are taken from the arming. Observes liburing's answer, when the wait
// ended, how often the handler ran.
AIOH_SCENARIO(uring_wait_signal, aioh::param::boolean("sa_restart", false, "install the handler with SA_RESTART"),
              aioh::param::boolean("mask", false, "the wait's sigmask blocks SIGALRM")) {
  IoUringBackend& be = up(ctx, 8);
  sigset_t alrm, saved;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  if (sigprocmask(SIG_BLOCK, &alrm, &saved) != 0) ctx.broken("cannot block SIGALRM");
  sigset_t during = saved;
  if (ctx.flag("mask"))
    sigaddset(&during, SIGALRM);
  else
    sigdelset(&during, SIGALRM);
  timing::Stopwatch sw;
  kaio::SignalTimer alarm(50, ctx.flag("sa_restart"));
  if (!alarm.ok()) {
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    ctx.broken("cannot arm the signal timer");
  }
  __kernel_timespec ts = kms(300);
  io_uring_cqe* cqe = nullptr;
  arm_errno();
  int ret = io_uring_wait_cqes(&be.ring(), &cqe, 1, &ts, &during);
  int e = errno;
  const double took = sw.ms();
  // A signal the wait's mask held back is delivered here.
  sigprocmask(SIG_SETMASK, &saved, nullptr);
  ctx.observe(be.liburing_ret(ret, e, Phase::wait, "io_uring_wait_cqes"), took);
  observe_milestone(ctx, took, {50, 300});
  ctx.observe(Outcome::ok(kaio::SignalTimer::fired.load(), Channel::ret, Phase::wait));
}

// struct io_uring_getevents_arg.min_wait_usec (IORING_FEAT_MIN_TIMEOUT,
// 6.12; the field was `pad` before): wait at least min_wait for
// min_complete, then return as soon as any CQE is there. mode:
//  one-ready (1 CQE ready, min_complete 2, min-wait 50 ms, timeout 1 s) |
//  none-ready (nothing pending, min_complete 1, min-wait 50 ms, timeout 300 ms)
AIOH_SCENARIO(uring_min_wait, aioh::param::choice("mode", "one-ready", {"one-ready", "none-ready"},
                                                  "what is ready when the wait starts")) {
  IoUringBackend& be = up(ctx, 8);
  const bool one = ctx.str("mode") == "one-ready";
  if (one) {
    queue_nops(ctx, be, 1, 1);
    submit_n(ctx, be, 1);
  }
  const long timeout = one ? 1000 : 300;
  __kernel_timespec ts = kms(timeout);
  io_uring_getevents_arg arg{};
  arg.sigmask_sz = _NSIG / 8;
  arg.pad = 50 * 1000;  // min_wait_usec
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  timing::Stopwatch sw;
  Outcome o = enter(be, 0, one ? 2 : 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, Phase::wait, &arg,
                    sizeof arg);
  const double took = sw.ms();
  ctx.observe(o, took);
  observe_milestone(ctx, took, {0, 50, timeout});
}

}  // namespace
}  // namespace aioh
