// When io_uring signals a registered eventfd, beyond the plain case in
// uring_register: IORING_REGISTER_EVENTFD_ASYNC notifies only for completions
// posted from an io-wq worker (a NOP completed inline posts none, one forced
// async with IOSQE_ASYNC posts one), IORING_CQ_EVENTFD_DISABLED in the CQ
// ring's flags silences notifications while set, and after
// IORING_UNREGISTER_EVENTFD none arrive. The eventfd's counter is read
// (non-blocking: 0 when nothing was posted) after the NOP's CQE is reaped.
// An io-wq worker posts the CQE before it signals the eventfd (and the signal
// may be deferred to an RCU callback: io_uring/eventfd.c io_eventfd_signal()),
// so after a punted NOP the counter is read once the eventfd is readable, or
// after 1 s without a notification.
#include <poll.h>
#include <sys/eventfd.h>

#include "errno_names.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// mode:
//  async-inline    EVENTFD_ASYNC, a NOP completed inline: NOP res, counter.
//  async-punted    EVENTFD_ASYNC, a NOP with IOSQE_ASYNC: NOP res, counter.
//  plain-punted    EVENTFD, a NOP with IOSQE_ASYNC: NOP res, counter.
//  cq-disabled     EVENTFD with IORING_CQ_EVENTFD_DISABLED set: NOP res, counter;
//                  flag cleared, a second NOP: its res, counter.
//  unregistered    EVENTFD registered then unregistered: unregister result, NOP res, counter.
AIOH_SCENARIO(uring_eventfd_when,
              aioh::param::choice("mode", "async-inline",
                                  {"async-inline", "async-punted", "plain-punted", "cq-disabled", "unregistered"},
                                  "which notification rule")) {
  IoUringBackend& be = up(ctx, 8);
  io_uring& ring = be.ring();
  const std::string mode = ctx.str("mode");
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) ctx.broken("eventfd");
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto counter = [&]() {
    uint64_t n = 0;
    return read(efd, &n, sizeof n) == sizeof n ? static_cast<int64_t>(n) : 0;
  };
  auto nop = [&](uint64_t tag, bool async) {
    submit_one(ctx, be, tag, [&](io_uring_sqe* s) {
      io_uring_prep_nop(s);
      if (async) s->flags |= IOSQE_ASYNC;
    });
    ctx.observe(IoUringBackend::res_outcome(reap(ctx, be, 1)[0].res));
  };
  const bool async_only = mode.rfind("async-", 0) == 0;
  int r = async_only ? io_uring_register_eventfd_async(&ring, efd) : io_uring_register_eventfd(&ring, efd);
  if (r < 0) ctx.broken("register eventfd: " + errno_name(-r));
  if (mode == "async-inline") {
    nop(1, false);
    value(counter());
  } else if (mode == "async-punted" || mode == "plain-punted") {
    nop(1, true);
    pollfd p{efd, POLLIN, 0};
    poll(&p, 1, 1000);
    value(counter());
  } else if (mode == "cq-disabled") {
    if (int t = io_uring_cq_eventfd_toggle(&ring, false); t < 0) ctx.broken("cq eventfd toggle: " + errno_name(-t));
    nop(1, false);
    value(counter());
    io_uring_cq_eventfd_toggle(&ring, true);
    nop(2, false);
    value(counter());
  } else {  // unregistered
    const int u = io_uring_unregister_eventfd(&ring);
    ctx.observe(u < 0 ? Outcome::error(-u, Channel::ret, Phase::setup) : Outcome::ok(u, Channel::ret, Phase::setup));
    nop(1, false);
    value(counter());
  }
  close(efd);
}

}  // namespace
}  // namespace aioh
