// io_uring's IORING_OP_EPOLL_WAIT (6.15): epoll_wait(2) as a request on an
// epoll instance watching eventfds. The events written back are checked (the
// count, EPOLLIN, the registered data word), a wait with nothing ready must
// stay queued until an event arrives (no CQE within 100 ms before), maxevents
// bounds the count, and the refusals fs/eventpoll.c ep_check_params() and
// io_uring/epoll.c io_epoll_wait_prep() document come back in cqe->res.
// liburing 2.3 has no io_uring_prep_epoll_wait, so the SQE is filled as the
// prep reads it: the epoll fd in fd, the events array in addr, maxevents in len.
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr uint64_t kTag0 = 0xa10c0de0, kTag1 = 0xa10c0de1;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

void prep_epoll_wait(io_uring_sqe* s, int epfd, epoll_event* ev, unsigned maxevents) {
  io_uring_prep_rw(kOpEpollWait, s, epfd, ev, maxevents, 0);
}

void bump(int efd) {
  uint64_t one = 1;
  if (write(efd, &one, sizeof one) != sizeof one) {}
}

// op:
//  ready           one eventfd ready: res, EPOLLIN set (1), the data word the
//                  fd was registered with (1).
//  pending         nothing ready: CQEs within 100 ms (0); then the eventfd is
//                  written: res, the data word (1).
//  maxevents-one   two eventfds ready, maxevents 1: res.
//  not-epoll       the request's fd is an eventfd: res.
//  maxevents-zero  maxevents 0: res.
//  events-kernel   the events pointer in kernel space: res.
//  off-set         sqe->off 1: res.
//  cancel          a queued wait cancelled by user_data: its res, the cancel's.
AIOH_URING_CHOICE_SCENARIO(uring_epoll, 8, op, "ready", "the epoll wait and its case",
                           "ready", "pending", "maxevents-one", "not-epoll", "maxevents-zero", "events-kernel",
                           "off-set", "cancel") {
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto res = [&](int r) { ctx.observe(IoUringBackend::res_outcome(r)); };
  Fd ep(epoll_create1(EPOLL_CLOEXEC));
  Fd e0(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), e1(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (ep.fd < 0 || e0.fd < 0 || e1.fd < 0) ctx.broken("epoll_create1/eventfd");
  uint64_t tags[2] = {kTag0, kTag1};
  int efds[2] = {e0.fd, e1.fd};
  for (int i = 0; i < 2; ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tags[i];
    if (epoll_ctl(ep.fd, EPOLL_CTL_ADD, efds[i], &ev) != 0) ctx.broken("epoll_ctl");
  }
  epoll_event out[4] = {};
  auto one = [&](int fd, epoll_event* ev, unsigned maxevents, auto tweak) {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      prep_epoll_wait(s, fd, ev, maxevents);
      tweak(s);
    });
    return reap(ctx, be, 1)[0].res;
  };
  auto none = [](io_uring_sqe*) {};

  if (op == "ready") {
    bump(e0.fd);
    res(one(ep.fd, out, 4, none));
    value((out[0].events & EPOLLIN) ? 1 : 0);
    value(out[0].data.u64 == kTag0 ? 1 : 0);
  } else if (op == "pending") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_epoll_wait(s, ep.fd, out, 4); });
    value(ready_within(be, 100));
    bump(e1.fd);
    res(reap(ctx, be, 1)[0].res);
    value(out[0].data.u64 == kTag1 ? 1 : 0);
  } else if (op == "maxevents-one") {
    bump(e0.fd);
    bump(e1.fd);
    res(one(ep.fd, out, 1, none));
  } else if (op == "not-epoll") {
    res(one(e0.fd, out, 4, none));
  } else if (op == "maxevents-zero") {
    bump(e0.fd);
    res(one(ep.fd, out, 0, none));
  } else if (op == "events-kernel") {
    bump(e0.fd);
    res(one(ep.fd, reinterpret_cast<epoll_event*>(uintptr_t{0xffff800000000000}), 4, none));
  } else if (op == "off-set") {
    bump(e0.fd);
    res(one(ep.fd, out, 4, [](io_uring_sqe* s) { s->off = 1; }));
  } else {  // cancel
    observe_pending_then_cancel(ctx, be, [&](io_uring_sqe* s) { prep_epoll_wait(s, ep.fd, out, 4); });
  }
}

}  // namespace
}  // namespace aioh
