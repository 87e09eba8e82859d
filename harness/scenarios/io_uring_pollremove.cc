// IORING_OP_POLL_REMOVE in its two roles (5.13 for the update): removing a
// queued poll by user_data (the poll completes -ECANCELED, the removal 0;
// nothing found: -ENOENT), and updating one in place with
// IORING_POLL_UPDATE_EVENTS (a new mask: a poll that waited for POLLIN on an
// empty eventfd, switched to POLLOUT, completes at once with POLLOUT) and
// IORING_POLL_UPDATE_USER_DATA (the poll's CQE carries the new user_data).
// The poll stays queued until then: no CQE within 100 ms before the update.
// The "-later" forms update a poll that stays pending and make it ready by
// a write afterwards, so the re-armed poll completes through its wakeup, not
// inside the update; a poll CQE that never comes is observed as the wait's
// ETIME (a kernel that loses it, see cases/io_uring_pollremove.toml).
#include <poll.h>
#include <sys/eventfd.h>

#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// Each mode's POLL_REMOVE sqe, aimed at user_data `target`: the queued poll
// (1) or one never queued (99). An update names the new user_data, the new
// mask and the flags that say which of them apply.
void prep_removal(io_uring_sqe* s, const std::string& mode, uint64_t target) {
  if (mode == "remove" || mode == "remove-missing")
    io_uring_prep_poll_remove(s, target);
  else if (mode == "update-events" || mode == "update-missing")
    io_uring_prep_poll_update(s, target, 0, POLLOUT, IORING_POLL_UPDATE_EVENTS);
  else if (mode == "update-events-later")
    io_uring_prep_poll_update(s, target, 0, POLLIN, IORING_POLL_UPDATE_EVENTS);
  else if (mode == "update-data")
    io_uring_prep_poll_update(s, target, 7, POLLOUT, IORING_POLL_UPDATE_EVENTS | IORING_POLL_UPDATE_USER_DATA);
  else if (mode == "update-data-later")
    io_uring_prep_poll_update(s, target, 7, 0, IORING_POLL_UPDATE_USER_DATA);
  else if (mode == "data-without-flag")
    io_uring_prep_poll_update(s, target, 7, POLLOUT, IORING_POLL_UPDATE_EVENTS);
  else  // multi-only
    io_uring_prep_poll_update(s, target, 0, 0, IORING_POLL_ADD_MULTI);
}

// mode:
//  remove         queued POLLIN poll on an empty eventfd, then POLL_REMOVE:
//                 CQEs before (0), the poll's res, the removal's res.
//  remove-missing POLL_REMOVE of a user_data never queued: res.
//  update-events  the queued POLLIN poll's mask updated to POLLOUT: CQEs
//                 before (0), the update's res, the poll's res (the mask).
//  update-data    the queued poll's user_data changed to 7 and its mask to
//                 POLLOUT: the update's res, the poll's res, whether its CQE
//                 carries user_data 7 (1).
//  update-events-later  a POLLPRI poll (an eventfd never has it) updated
//                 to POLLIN: the update's res, CQEs within 100 ms after it (0),
//                 then after a write to the eventfd the poll's res (POLLIN).
//  update-data-later    a POLLIN poll's user_data changed to 7 alone: the
//                 update's res, CQEs after it (0), after a write the poll's
//                 res (POLLIN) and whether its CQE carries user_data 7 (1).
//  update-missing an update of a user_data never queued: res.
//  data-without-flag  a new user_data (sqe->off) without IORING_POLL_UPDATE_USER_DATA: res.
//  multi-only     flags IORING_POLL_ADD_MULTI alone (no update asked): res.
AIOH_URING_CHOICE_SCENARIO(uring_poll_remove, 8, mode, "remove", "the removal or update case",
                           "remove", "remove-missing", "update-events", "update-data", "update-events-later",
                           "update-data-later", "update-missing", "data-without-flag", "multi-only") {
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) ctx.broken("eventfd");
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto res = [&](int r) { ctx.observe(IoUringBackend::res_outcome(r)); };
  if (mode == "remove-missing" || mode == "update-missing" || mode == "data-without-flag" || mode == "multi-only") {
    submit_one(ctx, be, 2, [&](io_uring_sqe* s) { prep_removal(s, mode, 99); });
    res(reap(ctx, be, 1)[0].res);
    close(efd);
    return;
  }
  const bool later = mode == "update-events-later" || mode == "update-data-later";
  const bool new_data = mode == "update-data" || mode == "update-data-later";
  submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
    io_uring_prep_poll_add(s, efd, mode == "update-events-later" ? POLLPRI : POLLIN);
  });
  value(ready_within(be, 100));
  submit_one(ctx, be, 2, [&](io_uring_sqe* s) { prep_removal(s, mode, 1); });
  std::vector<RawCqe> v;
  if (later) {
    v = reap(ctx, be, 1);
    if (!find_tag(v, 2)) ctx.broken("the first CQE after the update is not the POLL_REMOVE's");
    res(v[0].res);
    value(ready_within(be, 100));
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) ctx.broken("write to the eventfd");
  }
  // The poll's CQE (and, unless reaped above, the update's): one that never
  // comes is the wait's ETIME, what the kernel did.
  const unsigned want = later ? 1 : 2;
  std::vector<RawCqe> got;
  Outcome waited = be.reap(want, ms(3000), got, want);
  v.insert(v.end(), got.begin(), got.end());
  const RawCqe* upd = find_tag(v, 2);
  const RawCqe* poll = find_tag(v, new_data ? 7 : 1);
  if (!poll && new_data) poll = find_tag(v, 1);
  if (!upd) ctx.broken("no CQE for the POLL_REMOVE");
  auto poll_res = [&] {
    if (poll) res(poll->res);
    else if (waited.is_error) ctx.observe(waited);
    else ctx.broken("no CQE for the poll");
  };
  if (mode == "remove") {
    poll_res();
    res(upd->res);
  } else {
    if (!later) res(upd->res);
    poll_res();
    if (new_data && poll) value(poll->user_data == 7 ? 1 : 0);
  }
  close(efd);
}

}  // namespace
}  // namespace aioh
