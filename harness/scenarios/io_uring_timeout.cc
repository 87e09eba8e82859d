// Timeouts in io_uring: IORING_OP_TIMEOUT with and without a completion
// count (-ETIME when the time runs out, 0 when the count is reached first),
// absolute timeouts, bad timeout arguments, IORING_OP_TIMEOUT_REMOVE and
// its IORING_TIMEOUT_UPDATE form, IORING_OP_LINK_TIMEOUT on a linked request
// (the request gets -ECANCELED and the timeout -ETIME, or the timeout gets
// -ECANCELED when the request wins), and the waiting side: a wait with a
// timeout (-ETIME), io_uring_enter(2) with IORING_ENTER_EXT_ARG, and
// min_complete. Every CQE is observed, in user_data order.
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

constexpr uint64_t kTimeoutTag = 1, kOtherTag = 2, kRemoveTag = 3;
constexpr unsigned kEnterAbsTimer = 1U << 5;  // IORING_ENTER_ABS_TIMER (6.12), newer than liburing 2.3
constexpr unsigned kEnterNoIowait = 1U << 7;  // IORING_ENTER_NO_IOWAIT (6.15)

AIOH_SCENARIO(uring_timeout,
              aioh::param::choice("mode", "expire",
                                  {"expire", "expire-timed", "count", "abs-past", "abs-future", "bad-ts", "remove",
                                   "remove-missing", "update", "update-missing", "update-unreadable"},
                                  "the timeout: left to expire (timed on its clock), beaten by a count, absolute in the past or `ms` ahead (timed), tv_sec -1, removed or updated (a missing one, or from an unreadable timespec)"),
              aioh::param::integer("ms", 10000, "the timeout", 0, aioh::param::kMaxMs),
              aioh::param::integer("count", 0, "the completion count of IORING_OP_TIMEOUT", 0, UINT32_MAX),
              aioh::param::integer("flags", 0, "the timeout flags (IORING_TIMEOUT_* bits)", 0, UINT32_MAX)) {
  IoUringBackend& be = up(ctx, 8);
  const std::string mode = ctx.str("mode");
  __kernel_timespec ts = kms(ctx.num("ms"));
  unsigned count = static_cast<unsigned>(ctx.num("count"));
  unsigned flags = static_cast<unsigned>(ctx.num("flags"));
  unsigned expect = 1;

  // The clock the flags select (IORING_TIMEOUT_BOOTTIME, IORING_TIMEOUT_REALTIME,
  // else CLOCK_MONOTONIC): absolute deadlines are read on it and measured on
  // it. A relative timeout is measured on CLOCK_MONOTONIC: a relative REALTIME
  // hrtimer runs on it (kernel/time/hrtimer.c __hrtimer_init()) and BOOTTIME
  // ticks with it but for time suspended, so a wall-clock step changes nothing.
  const clockid_t clk = (flags & IORING_TIMEOUT_BOOTTIME)   ? CLOCK_BOOTTIME
                        : (flags & IORING_TIMEOUT_REALTIME) ? CLOCK_REALTIME
                                                            : CLOCK_MONOTONIC;
  const clockid_t measured_on = mode == "expire-timed" ? CLOCK_MONOTONIC : clk;
  auto now_ms = [measured_on] {
    timespec t{};
    clock_gettime(measured_on, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
  };
  const bool timed = mode == "expire-timed" || mode == "abs-future" || mode == "abs-past";
  // An absolute deadline is timed from the very reading it was made from: a
  // second reading after it would start the clock late by however long the
  // case was preempted in between (14 ms seen in a loaded guest), and the CQE
  // would seem early.
  double deadline_base_ms = -1;
  if (mode == "abs-past" || mode == "abs-future") {
    // One second before now, or `ms` after it.
    timespec now{};
    clock_gettime(clk, &now);
    deadline_base_ms = static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
    if (mode == "abs-past") {
      ts.tv_sec = now.tv_sec - 1;
      ts.tv_nsec = now.tv_nsec;
    } else {
      const long long ns = static_cast<long long>(now.tv_nsec) + ctx.num("ms") % 1000 * 1000000LL;
      ts.tv_sec = now.tv_sec + ctx.num("ms") / 1000 + ns / 1000000000LL;
      ts.tv_nsec = ns % 1000000000LL;
    }
    flags |= IORING_TIMEOUT_ABS;
  } else if (mode == "bad-ts") {
    ts.tv_sec = -1;
  }
  const double t0 = deadline_base_ms >= 0 ? deadline_base_ms : now_ms();  // before the submit that arms the timer
  if (mode != "remove-missing" && mode != "update-missing") {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_timeout(s, &ts, count, flags);
    io_uring_sqe_set_data64(s, kTimeoutTag);
  } else {
    expect = 0;
  }
  if (mode == "count") {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, kOtherTag);
    ++expect;
  }
  __kernel_timespec upd = kms(1);
  // update-unreadable: the new timespec on a PROT_NONE page.
  void* none = MAP_FAILED;
  if (mode == "update-unreadable") {
    none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (none == MAP_FAILED) ctx.broken("mmap PROT_NONE");
  }
  if (mode == "remove" || mode == "remove-missing" || mode == "update" ||
      mode == "update-missing" || mode == "update-unreadable") {
    // Submitted separately so the target is armed first.
    submit_n(ctx, be, expect);
    io_uring_sqe* s = sqe(ctx, be);
    if (mode.rfind("remove", 0) == 0)
      io_uring_prep_timeout_remove(s, kTimeoutTag, 0);
    else
      io_uring_prep_timeout_update(s, none != MAP_FAILED ? static_cast<__kernel_timespec*>(none) : &upd,
                                   kTimeoutTag, 0);
    io_uring_sqe_set_data64(s, kRemoveTag);
    submit_n(ctx, be, 1);
    ++expect;
  } else {
    submit_n(ctx, be, expect);
  }
  if (timed) {
    // Its one CQE, timed on its clock: -ETIME no earlier than `ms` (at once
    // for a deadline already past) and within the slack. A timeout on another
    // clock fires at once or (a wall-clock deadline read as CLOCK_MONOTONIC)
    // decades late: nothing within the bound is observed as the wait's ETIME.
    const double want = mode == "abs-past" ? 0 : static_cast<double>(ctx.num("ms"));
    std::vector<RawCqe> got;
    Outcome w = be.reap(1, ms(static_cast<long>(want + timing::slack_ms(ctx.env()) + 1000)), got);
    const double took = now_ms() - t0;
    if (got.empty()) return ctx.observe(w);
    timing::observe_wait_between(ctx, IoUringBackend::res_outcome(got[0].res), took, want, want,
                                 "the timeout's CQE");
    return;
  }
  if (mode == "bad-ts") {
    // A kernel without the check arms a timeout that never fires: observed
    // as liburing's -ETIME, so the row fails rather than breaks.
    std::vector<RawCqe> got;
    Outcome w = be.reap(1, ms(500), got);
    if (got.empty()) ctx.observe(w);
    observe_cqes(ctx, got);
    return;
  }
  observe_cqes(ctx, reap(ctx, be, expect));
  if (none != MAP_FAILED) munmap(none, 4096);
}

#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

// Observes a CQE's res and whether IORING_CQE_F_MORE was set (1/0).
void observe_res_more(CaseContext& ctx, const RawCqe& c) {
  ctx.observe(IoUringBackend::res_outcome(c.res));
  ctx.observe(Outcome::ok((c.flags & IORING_CQE_F_MORE) ? 1 : 0, Channel::cqe_res, Phase::completion));
}

// More timeout forms. mode:
//  count-not-reached (a 50 ms TIMEOUT waiting for 2 completions, one NOP:
//    the NOP's 0, then the timeout's -ETIME, when it ended) |
//  multishot (IORING_TIMEOUT_MULTISHOT, 10 ms, 3 repeats: three -ETIME, the
//    first two with IORING_CQE_F_MORE) |
//  multishot-forever (no repeat count: three -ETIME with MORE, then a
//    TIMEOUT_REMOVE: 0, and the timeout's last CQE -ECANCELED without MORE) |
//  multishot-abs (MULTISHOT with IORING_TIMEOUT_ABS) |
//  etime-success-link / etime-link (a 1 ms TIMEOUT with/without
//    IORING_TIMEOUT_ETIME_SUCCESS linked to a NOP) |
//  async-cancel (a 10 s TIMEOUT cancelled by IORING_OP_ASYNC_CANCEL: the
//    timeout's -ECANCELED, the cancel's 0) |
//  remove-not-a-timeout (TIMEOUT_REMOVE naming a pending POLL_ADD: -ENOENT,
//    the poll stays pending) |
//  remove-bad-flags (TIMEOUT_REMOVE with an unknown flag) |
//  two-clocks (IORING_TIMEOUT_BOOTTIME | IORING_TIMEOUT_REALTIME)
AIOH_URING_CHOICE_SCENARIO(uring_timeout_more, 16, mode, "count-not-reached", "which timeout form",
                           "count-not-reached", "multishot", "multishot-forever", "multishot-abs",
                           "etime-success-link", "etime-link", "async-cancel", "remove-not-a-timeout",
                           "remove-bad-flags", "two-clocks") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  __kernel_timespec ts{};
  io_uring_sqe* s = nullptr;
  if (mode == "count-not-reached") {
    ts = kms(50);
    s = sqe(ctx, be);
    io_uring_prep_timeout(s, &ts, 2, 0);
    io_uring_sqe_set_data64(s, 1);
    s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, 2);
    timing::Stopwatch sw;
    submit_n(ctx, be, 2);
    std::vector<RawCqe> got = reap(ctx, be, 2);
    const double took = sw.ms();
    // Arrival order: the NOP at once, the timeout when its time ran out.
    observe_cqes(ctx, got, false);
    timing::observe_wait_between(ctx, Outcome::ok(got.size(), Channel::ret, Phase::wait), took, 50, 50,
                                 "the timeout whose count was not reached");
    return;
  }
  if (mode.rfind("multishot", 0) == 0) {
    ts = kms(mode == "multishot-forever" ? 30 : 10);
    unsigned flags = IORING_TIMEOUT_MULTISHOT | (mode == "multishot-abs" ? IORING_TIMEOUT_ABS : 0);
    if (mode == "multishot-abs") {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      ts.tv_sec = now.tv_sec + 1;
    }
    s = sqe(ctx, be);
    io_uring_prep_timeout(s, &ts, mode == "multishot" ? 3 : 0, flags);
    io_uring_sqe_set_data64(s, 1);
    submit_n(ctx, be, 1);
    if (mode == "multishot-abs") {
      observe_res_more(ctx, reap(ctx, be, 1)[0]);
      return;
    }
    // The first CQE tells whether the kernel knows the flag at all.
    RawCqe first = reap(ctx, be, 1)[0];
    observe_res_more(ctx, first);
    if (!(first.flags & IORING_CQE_F_MORE)) return;
    for (int i = 0; i < 2; ++i) observe_res_more(ctx, reap(ctx, be, 1)[0]);
    if (mode == "multishot") return;
    s = sqe(ctx, be);
    io_uring_prep_timeout_remove(s, 1, 0);
    io_uring_sqe_set_data64(s, 3);
    submit_n(ctx, be, 1);
    // Expirations that raced the remove come first; the remove's answer and
    // the timeout's last CQE end it.
    RawCqe removed{}, last{};
    bool have_removed = false, have_last = false;
    for (int guard = 0; guard < 64 && !(have_removed && have_last); ++guard) {
      RawCqe c = reap(ctx, be, 1)[0];
      if (c.user_data == 3) {
        removed = c;
        have_removed = true;
      } else if (!(c.flags & IORING_CQE_F_MORE)) {
        last = c;
        have_last = true;
      }
    }
    if (!have_removed || !have_last) ctx.broken("the removed multishot timeout did not end");
    ctx.observe(IoUringBackend::res_outcome(removed.res));
    observe_res_more(ctx, last);
    return;
  }
  if (mode == "etime-success-link" || mode == "etime-link") {
    ts = kms(1);
    s = sqe(ctx, be);
    io_uring_prep_timeout(s, &ts, 0, mode == "etime-success-link" ? IORING_TIMEOUT_ETIME_SUCCESS : 0);
    s->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(s, 1);
    s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, 2);
    submit_n(ctx, be, 2);
    observe_cqes(ctx, reap(ctx, be, 2));
    return;
  }
  if (mode == "async-cancel") {
    ts = kms(10000);
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_timeout(x, &ts, 0, 0); });
    submit_one(ctx, be, 2, [](io_uring_sqe* x) { io_uring_prep_cancel64(x, 1, 0); });
    observe_cqes(ctx, reap(ctx, be, 2));
    return;
  }
  if (mode == "remove-not-a-timeout") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_poll_add(x, p.r(), POLLIN); });
    submit_one(ctx, be, 2, [](io_uring_sqe* x) { io_uring_prep_timeout_remove(x, 1, 0); });
    observe_cqes(ctx, reap(ctx, be, 1));
    std::vector<RawCqe> rest;
    timing::Stopwatch sw;
    Outcome w = be.reap(1, ms(20), rest);
    timing::observe_wait(ctx, w, sw.ms(), 20, false);
    return;
  }
  ts = kms(1);
  submit_one(ctx, be, 1, [&](io_uring_sqe* x) {
    if (mode == "remove-bad-flags") io_uring_prep_timeout_remove(x, 1, 0x80);
    else io_uring_prep_timeout(x, &ts, 0, IORING_TIMEOUT_BOOTTIME | IORING_TIMEOUT_REALTIME);  // two-clocks
  });
  observe_cqes(ctx, reap(ctx, be, 1));
}

// An IORING_OP_LINK_TIMEOUT after an IOSQE_IO_LINK request.
AIOH_SCENARIO(uring_link_timeout,
              aioh::param::choice("mode", "plain", {"plain", "update", "unlinked"},
                                  "linked, linked then updated to 1 ms, or with no request before it"),
              aioh::param::choice("target", "poll", {"poll", "nop"}, "the linked request: a poll never ready, or a NOP"),
              aioh::param::integer("ms", 10000, "the link timeout", 0, aioh::param::kMaxMs)) {
  // Observed in this order: the target, the LINK_TIMEOUT, the update.
  constexpr uint64_t kLinkTarget = 1, kLinkTimeout = 2, kLinkUpdate = 3;
  IoUringBackend& be = up(ctx, 8);
  const std::string mode = ctx.str("mode");
  const std::string target = ctx.str("target");
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  __kernel_timespec ts = kms(ctx.num("ms"));
  unsigned n = 0;
  if (mode != "unlinked") {
    io_uring_sqe* s = sqe(ctx, be);
    if (target == "poll")
      io_uring_prep_poll_add(s, p.r(), POLLIN);
    else
      io_uring_prep_nop(s);
    s->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(s, kLinkTarget);
    ++n;
  }
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_link_timeout(s, &ts, 0);
  io_uring_sqe_set_data64(s, kLinkTimeout);
  ++n;
  submit_n(ctx, be, n);
  __kernel_timespec upd = kms(1);
  if (mode == "update") {
    s = sqe(ctx, be);
    io_uring_prep_timeout_update(s, &upd, kLinkTimeout,
                                 IORING_LINK_TIMEOUT_UPDATE);
    io_uring_sqe_set_data64(s, kLinkUpdate);
    submit_n(ctx, be, 1);
    ++n;
  }
  observe_cqes(ctx, reap(ctx, be, n));
}

// IORING_OP_LINK_TIMEOUT placement. mode: double (a poll that never
// completes, then two LINK_TIMEOUTs linked behind it: the second is refused
// at init, which fails the chain) | failed-target (a read of a
// closed fd linked to a 10 s LINK_TIMEOUT: the read fails at once, the
// timeout is cancelled). CQEs in user_data order.
AIOH_URING_CHOICE_SCENARIO(uring_link_timeout_more, 8, mode, "double", "where the LINK_TIMEOUT goes",
                           "double", "failed-target") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  __kernel_timespec ts = kms(10000);
  char buf[16];
  io_uring_sqe* s = sqe(ctx, be);
  if (mode == "double") io_uring_prep_poll_add(s, p.r(), POLLIN);
  else io_uring_prep_read(s, closed_fd(), buf, sizeof buf, 0);
  s->flags |= IOSQE_IO_LINK;
  io_uring_sqe_set_data64(s, 1);
  s = sqe(ctx, be);
  io_uring_prep_link_timeout(s, &ts, 0);
  if (mode == "double") s->flags |= IOSQE_IO_LINK;
  io_uring_sqe_set_data64(s, 2);
  unsigned n = 2;
  if (mode == "double") {
    s = sqe(ctx, be);
    io_uring_prep_link_timeout(s, &ts, 0);
    io_uring_sqe_set_data64(s, 3);
    n = 3;
  }
  ctx.observe(be.submit_queued());
  observe_cqes(ctx, reap(ctx, be, n));
}

// The backend's wait() with a timeout: nothing pending, a request pending
// that never completes, or a NOP that completes at once.
AIOH_SCENARIO(uring_wait_timeout,
              aioh::param::choice("pending", "none", {"none", "poll", "nop"}, "what is pending during the wait"),
              aioh::param::integer("ms", 1, "the wait's timeout", 0, aioh::param::kMaxMs)) {
  IoUringBackend& be = up(ctx, 8);
  const std::string pending = ctx.str("pending");
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  Request r;
  r.tag = 5;
  if (pending == "poll") {
    r.op = Op::poll;
    r.fd = p.r();
    r.poll_events = POLLIN;
  } else {
    r.op = Op::nop;
  }
  if (pending != "none") ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  const long t = ctx.num("ms");
  timing::Stopwatch sw;
  Outcome w = be.wait(1, 8, ms(t), out);
  // liburing's own answer, timed: a pending NOP is there at once, otherwise
  // the wait runs its timeout out.
  timing::observe_wait(ctx, w, sw.ms(), static_cast<double>(t), pending == "nop");
  for (const Completion& c : out) ctx.observe(c.result);
}

// io_uring_enter(2) directly: IORING_ENTER_EXT_ARG with a timeout (or a
// malformed argument size), min_complete honoured on return, and the
// call's own argument checks: a sigset size other than _NSIG / 8 (plain
// and through EXT_ARG), IORING_ENTER_ABS_TIMER with a deadline passed,
// IORING_ENTER_NO_IOWAIT on a wait for a 20 ms TIMEOUT already submitted
// (the enter's answer; when 0, the CQEs ready at its return; the TIMEOUT's
// CQE either way).
AIOH_SCENARIO(uring_enter,
              aioh::param::choice("mode", "ext-arg",
                                  {"ext-arg", "ext-arg-bad-size", "min-complete", "bad-flags", "not-a-ring",
                                   "closed-fd", "sigmask-bad-size", "ext-arg-sigmask-bad-size", "abs-timer-past",
                                   "no-iowait"},
                                  "the io_uring_enter call"),
              aioh::param::integer("n", 3, "NOPs of min-complete (the ring has 8 entries)", 1, 8),
              aioh::param::integer("ms", 5, "the EXT_ARG timeout", 0, aioh::param::kMaxMs)) {
  IoUringBackend& be = up(ctx, 8);
  const std::string mode = ctx.str("mode");
  const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
  if (mode == "min-complete") {
    // NOPs forced through io-wq complete asynchronously, so the kernel
    // really has to wait for min_complete of them.
    const unsigned n = static_cast<unsigned>(ctx.num("n"));
    for (unsigned i = 0; i < n; ++i) {
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_nop(s);
      s->flags |= IOSQE_ASYNC;
      io_uring_sqe_set_data64(s, 10 + i);
    }
    arm_errno();
    int ret = io_uring_submit_and_wait(&be.ring(), n);
    ctx.observe(be.liburing_ret(ret, errno, Phase::submit,
                                "io_uring_submit_and_wait"));
    // Ready at the moment enter returned, before any further wait.
    ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret,
                            Phase::wait));
    reap(ctx, be, n);
    return;
  }
  if (mode == "bad-flags" || mode == "not-a-ring" || mode == "closed-fd") {
    unsigned target = fd;
    int file = -1;
    if (mode == "not-a-ring")
      target = static_cast<unsigned>(
          file = ctx.scratch_file("enter", 4096, O_RDONLY | O_CLOEXEC));
    if (mode == "closed-fd") target = static_cast<unsigned>(closed_fd());
    unsigned flags = mode == "bad-flags" ? 0x80000000u : IORING_ENTER_GETEVENTS;
    arm_errno();
    int ret = io_uring_enter(target, 0, 0, flags, nullptr);
    ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_enter"));
    if (file >= 0) close(file);
    return;
  }
  if (mode == "no-iowait") {
    __kernel_timespec t = kms(20);
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_timeout(x, &t, 0, 0); });
    arm_errno();
    int ret = io_uring_enter(fd, 0, 1, IORING_ENTER_GETEVENTS | kEnterNoIowait, nullptr);
    ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_enter"));
    if (ret == 0) ctx.observe(Outcome::ok(io_uring_cq_ready(&be.ring()), Channel::ret, Phase::wait));
    observe_cqes(ctx, reap(ctx, be, 1));
    return;
  }
  sigset_t empty;
  sigemptyset(&empty);
  if (mode == "sigmask-bad-size") {
    // Without EXT_ARG the argument is the sigset itself and argsz its size,
    // which set_user_sigmask() wants to be sizeof(sigset_t) = _NSIG / 8. A
    // TIMEOUT bounds the wait of a kernel that took the mask; io_cqring_wait()
    // returns before it checks the size once that TIMEOUT's CQE is ready, so
    // it is long enough that no loaded guest reaches the enter after it fires.
    __kernel_timespec t = kms(2000);
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_timeout(x, &t, 0, 0); });
    arm_errno();
    int ret = io_uring_enter2(fd, 0, 1, IORING_ENTER_GETEVENTS, &empty, 4);
    ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_enter2"));
    return;
  }
  __kernel_timespec ts = kms(ctx.num("ms"));
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  if (mode == "abs-timer-past") {
    // An absolute deadline on the ring's clock (CLOCK_MONOTONIC unless
    // IORING_REGISTER_CLOCK chose another) one second ago: read as relative
    // it would be hours away.
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    ts.tv_sec = now.tv_sec - 1;
    ts.tv_nsec = now.tv_nsec;
    flags |= kEnterAbsTimer;
  }
  io_uring_getevents_arg arg{};
  arg.sigmask = 0;
  arg.sigmask_sz = _NSIG / 8;
  if (mode == "ext-arg-sigmask-bad-size") {
    arg.sigmask = reinterpret_cast<uint64_t>(&empty);
    arg.sigmask_sz = 4;
  }
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  size_t sz = sizeof arg;
  if (mode == "ext-arg-bad-size") sz -= 1;
  timing::Stopwatch sw;
  arm_errno();
  int ret = io_uring_enter2(fd, 0, 1, flags, reinterpret_cast<sigset_t*>(&arg), sz);
  Outcome o = be.liburing_ret(ret, errno, Phase::wait, "io_uring_enter2");
  if (mode == "abs-timer-past")
    timing::observe_wait_between(ctx, o, sw.ms(), 0, 0, "a wait whose absolute deadline had passed");
  else
    ctx.observe(o);
}

}  // namespace
}  // namespace aioh
