// IORING_OP_MSG_RING (5.18): one ring posts a CQE into another. The sender's
// CQE has res 0; the target's carries user_data = the SQE's off and res =
// its len (IORING_MSG_DATA); a message to the sending ring itself posts
// both there. A target that is not a ring is -EBADFD, an unknown command or
// flag -EINVAL (io_uring/msg_ring.c io_msg_ring_prep()/io_msg_ring()), and
// then the target gets nothing.
#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// mode: data (to a second ring) | self (to the sending ring) | not-a-ring
// (target a regular file) | bad-cmd (command 99 in sqe->addr) | bad-flags
// (an unknown msg_ring flag). Observes the sender's CQE, then what the
// target ring got: res and user_data, or liburing's answer (timed) when
// nothing came in 50 ms.
AIOH_URING_CHOICE_SCENARIO(uring_msg_ring, 8, mode, "data", "where the message goes",
                           "data", "self", "not-a-ring", "bad-cmd", "bad-flags") {
  io_uring target{};
  if (io_uring_queue_init(8, &target, 0) < 0) ctx.broken("second ring");
  int file = -1;
  int fd = target.ring_fd;
  if (mode == "self") fd = be.ring().ring_fd;
  if (mode == "not-a-ring") fd = file = ctx.scratch_file("msg", 4096, O_RDONLY | O_CLOEXEC);
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_msg_ring(s, fd, 42, 0x77, 0);
  if (mode == "bad-cmd") s->addr = 99;
  if (mode == "bad-flags") s->msg_ring_flags = 0x80000000u;
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  if (mode == "self") {
    // Both CQEs land here: the sender's (user_data 1) and the message (0x77).
    std::vector<RawCqe> got = reap(ctx, be, 2);
    sort_by_tag(got);
    for (const RawCqe& c : got) {
      ctx.observe(IoUringBackend::res_outcome(c.res));
      ctx.observe(Outcome::ok(static_cast<int64_t>(c.user_data), Channel::cqe_res, Phase::completion));
    }
  } else {
    observe_cqes(ctx, reap(ctx, be, 1));
    __kernel_timespec ts = kms(50);
    io_uring_cqe* cqe = nullptr;
    timing::Stopwatch sw;
    arm_errno();
    int ret = io_uring_wait_cqe_timeout(&target, &cqe, &ts);
    int e = errno;
    const double took = sw.ms();
    if (ret == 0 && cqe) {
      ctx.observe(IoUringBackend::res_outcome(cqe->res));
      ctx.observe(Outcome::ok(static_cast<int64_t>(cqe->user_data), Channel::cqe_res, Phase::completion));
      io_uring_cqe_seen(&target, cqe);
    } else {
      timing::observe_wait(ctx, be.liburing_ret(ret, e, Phase::wait, "io_uring_wait_cqe_timeout"), took, 50, false);
    }
  }
  io_uring_queue_exit(&target);
  if (file >= 0) close(file);
}

}  // namespace
}  // namespace aioh
