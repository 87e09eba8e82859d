// What the ring itself tells user space without a request of its own: the
// ring fd's poll mask (io_uring/io_uring.c io_uring_poll(): EPOLLOUT while the
// SQ ring has room, EPOLLIN once a CQE is posted), the SQ thread's
// IORING_SQ_NEED_WAKEUP and io_uring_enter(2)'s answer on an SQPOLL ring, and
// IORING_SQ_TASKRUN with DEFER_TASKRUN (a completion parked as local task
// work, which liburing's io_uring_peek_cqe() enters the kernel to run).
#include <poll.h>
#include <sys/epoll.h>

#include <fstream>

#include "scenarios/io_uring_scenario.h"
#include "scenarios/thread_state.h"

namespace aioh {
namespace {

using namespace uring;

void observe_value(CaseContext& ctx, int64_t v, Phase ph) { ctx.observe(Outcome::ok(v, Channel::ret, ph)); }

// poll(2) of `fd` for POLLIN|POLLOUT with no wait: the revents (POLLIN 1,
// POLLOUT 4; the RDNORM/WRNORM bits the ring also reports are not asked for).
int64_t poll_mask(int fd) {
  pollfd p{fd, POLLIN | POLLOUT, 0};
  int n = poll(&p, 1, 0);
  return n < 0 ? -1 : p.revents;
}

// `n` NOPs queued and the SQ tail published to the kernel, not entered.
void queue_published(CaseContext& ctx, IoUringBackend& be, unsigned n, uint64_t first_tag) {
  for (unsigned i = 0; i < n; ++i) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, first_tag + i);
  }
  io_uring& r = be.ring();
  io_uring_smp_store_release(r.sq.ktail, r.sq.sqe_tail);
  r.sq.sqe_head = r.sq.sqe_tail;
}

unsigned sq_flags(IoUringBackend& be) { return IO_URING_READ_ONCE(*be.ring().sq.kflags); }


// mode:
//  poll-ring-fd   poll(2) of the ring fd: the mask of a fresh ring; with the 8-entry SQ
//                 full (8 NOPs published, not entered); after io_uring_enter consumes
//                 them (8 CQEs posted); after the CQEs are reaped.
//  epoll-ring-fd  the ring fd in an epoll set for EPOLLIN: epoll_wait(0) before a NOP
//                 (events), after a NOP completes (events, and their mask).
//  sqpoll-enter   SQPOLL ring: 2 NOPs published, io_uring_enter(to_submit 5, SQ_WAKEUP): its return;
//                 the 2 CQEs' res.
//  sqpoll-wakeup  SQPOLL ring, sq_thread_idle 10 ms: one NOP round trip; then
//                 IORING_SQ_NEED_WAKEUP seen within 2 s with the thread asleep (1); a NOP
//                 published: CQEs within 100 ms (0, nobody consumes it); io_uring_enter
//                 with IORING_ENTER_SQ_WAKEUP: its return; the NOP's res.
//  taskrun-defer  SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG ring: a POLL_ADD on a pipe,
//                 a byte written: IORING_SQ_TASKRUN set (1), CQEs in the CQ ring (0);
//                 io_uring_peek_cqe(): its return and the CQE's res (POLLIN 1);
//                 IORING_SQ_TASKRUN afterwards (0).
AIOH_SCENARIO(uring_ring_state,
              aioh::param::choice("mode", "poll-ring-fd",
                                  {"poll-ring-fd", "epoll-ring-fd", "sqpoll-enter", "sqpoll-wakeup", "taskrun-defer"},
                                  "which ring state")) {
  const std::string mode = ctx.str("mode");
  if (mode == "poll-ring-fd") {
    IoUringBackend& be = up(ctx, 8);
    const int fd = be.ring().ring_fd;
    observe_value(ctx, poll_mask(fd), Phase::setup);
    queue_published(ctx, be, be.ring().sq.ring_entries, 1);
    observe_value(ctx, poll_mask(fd), Phase::setup);
    arm_errno();
    int n = io_uring_enter(static_cast<unsigned>(fd), be.ring().sq.ring_entries, 0, 0, nullptr);
    if (n != static_cast<int>(be.ring().sq.ring_entries)) ctx.broken("io_uring_enter consumed " + std::to_string(n));
    observe_value(ctx, poll_mask(fd), Phase::completion);
    reap(ctx, be, be.ring().sq.ring_entries);
    observe_value(ctx, poll_mask(fd), Phase::completion);
    return;
  }
  if (mode == "epoll-ring-fd") {
    IoUringBackend& be = up(ctx, 8);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, be.ring().ring_fd, &ev) != 0) ctx.broken("epoll on the ring fd");
    epoll_event got{};
    observe_value(ctx, epoll_wait(ep, &got, 1, 0), Phase::setup);
    submit_one(ctx, be, 1, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
    got = {};
    observe_value(ctx, epoll_wait(ep, &got, 1, 0), Phase::completion);
    observe_value(ctx, got.events, Phase::completion);
    close(ep);
    reap(ctx, be, 1);
    return;
  }
  if (mode == "sqpoll-enter" || mode == "sqpoll-wakeup") {
    IoUringBackend& be = backend(ctx);
    io_uring_params p{};
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 10;  // ms before the thread sleeps and sets IORING_SQ_NEED_WAKEUP
    Outcome o = be.setup_raw(8, p);
    if (o.is_error) ctx.broken("SQPOLL setup: " + o.str());
    const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
    if (mode == "sqpoll-enter") {
      queue_published(ctx, be, 2, 1);
      arm_errno();
      // SQ_WAKEUP always: a thread already idle past 10 ms (a slow setup
      // on a busy host) would otherwise never see the NOPs.
      int n = io_uring_enter(fd, 5, 0, IORING_ENTER_SQ_WAKEUP, nullptr);
      ctx.observe(be.liburing_ret(n, errno, Phase::submit, "io_uring_enter"));
      observe_cqes(ctx, reap(ctx, be, 2));
      return;
    }
    submit_one(ctx, be, 1, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
    reap(ctx, be, 1);
    // Idle past sq_thread_idle, the thread sets the flag and sleeps; both
    // are waited for (2 s bound), never assumed from a fixed sleep.
    bool asleep = false;
    for (int i = 0; i < 2000 && !asleep; ++i) {
      asleep = (sq_flags(be) & IORING_SQ_NEED_WAKEUP) && threads::named_thread_state("iou-sqp-") == 'S';
      if (!asleep) usleep(1000);
    }
    observe_value(ctx, asleep ? 1 : 0, Phase::setup);
    if (!asleep) return;
    usleep(5000);  // past the thread's last look at the SQ after setting the flag
    queue_published(ctx, be, 1, 2);
    observe_value(ctx, ready_within(be, 100), Phase::completion);
    arm_errno();
    int n = io_uring_enter(fd, 1, 0, IORING_ENTER_SQ_WAKEUP, nullptr);
    ctx.observe(be.liburing_ret(n, errno, Phase::submit, "io_uring_enter(SQ_WAKEUP)"));
    observe_cqes(ctx, reap(ctx, be, 1));
    return;
  }
  // taskrun-defer
  IoUringBackend& be = up(ctx, 8, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  Pipe pp;
  if (!pp.ok()) ctx.broken("pipe");
  submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_poll_add(s, pp.r(), POLLIN); });
  if (write(pp.w(), "x", 1) != 1) ctx.broken("pipe write");
  observe_value(ctx, (sq_flags(be) & IORING_SQ_TASKRUN) ? 1 : 0, Phase::completion);
  observe_value(ctx, io_uring_cq_ready(&be.ring()), Phase::completion);
  io_uring_cqe* c = nullptr;
  int r = static_cast<int>(lib_call(ctx, "io_uring_peek_cqe", [&] { return io_uring_peek_cqe(&be.ring(), &c); },
                                    Phase::wait));
  if (r == 0 && c) {
    ctx.observe(IoUringBackend::res_outcome(c->res));
    io_uring_cqe_seen(&be.ring(), c);
  }
  observe_value(ctx, (sq_flags(be) & IORING_SQ_TASKRUN) ? 1 : 0, Phase::completion);
}

}  // namespace
}  // namespace aioh
