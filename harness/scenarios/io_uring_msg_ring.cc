// IORING_OP_MSG_RING (5.18): one ring posts a CQE into another. The sender's
// CQE has res 0; the target's carries user_data = the SQE's off and res =
// its len (IORING_MSG_DATA); a message to the sending ring itself posts
// both there. A target that is not a ring is -EBADFD, an unknown command or
// flag -EINVAL (io_uring/msg_ring.c io_msg_ring_prep()/io_msg_ring()), and
// then the target gets nothing. IORING_MSG_SEND_FD (6.0) moves a registered
// file of the sender into the target's file table: the file is proved there
// by a fixed-file READ on the target whose data is checked; its errors come
// from io_msg_send_fd() and io_uring/filetable.c io_install_fixed_file().
#include <thread>

#include "convention.h"
#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// uapi names newer than the build machine's liburing 2.3 headers.
constexpr uint32_t kMsgFlagsPass = 1U << 1;     // IORING_MSG_RING_FLAGS_PASS (6.3)
constexpr uint32_t kPassedCqeFlags = 1U << 20;  // a CQE flag bit no kernel defines

// What the target ring got within 50 ms: res, user_data and (with_flags) the
// CQE's flags, or liburing's answer, timed, when nothing came.
void observe_target(CaseContext& ctx, IoUringBackend& be, io_uring& target, bool with_flags) {
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
    if (with_flags) ctx.observe(Outcome::ok(cqe->flags, Channel::cqe_res, Phase::completion));
    io_uring_cqe_seen(&target, cqe);
  } else {
    timing::observe_wait(ctx, be.liburing_ret(ret, e, Phase::wait, "io_uring_wait_cqe_timeout"), took, 50, false);
  }
}

// A fixed-file READ of 64 bytes on `target`'s slot `slot`: its res, and the
// data checked against the scratch file's pattern.
void read_fixed_on(CaseContext& ctx, io_uring& target, int slot) {
  AlignedBuffer buf(4096);
  io_uring_sqe* s = io_uring_get_sqe(&target);
  if (!s) ctx.broken("no SQE on the target ring");
  io_uring_prep_read(s, slot, buf.data(), 64, 0);
  s->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(s, 9);
  if (io_uring_submit(&target) != 1) ctx.broken("target submit");
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts = kms(3000);
  if (io_uring_wait_cqe_timeout(&target, &cqe, &ts) != 0 || !cqe) ctx.broken("target read never completed");
  ctx.observe(IoUringBackend::res_outcome(cqe->res));
  if (cqe->res > 0)
    ctx.check(verify_buffer(buf.data(), static_cast<size_t>(cqe->res), kFileSeed, 0).empty(),
              "the passed file's data does not match the scratch file");
  io_uring_cqe_seen(&target, cqe);
}

// send-fd-owner-gone: the target ring is IORING_SETUP_SINGLE_ISSUER |
// IORING_SETUP_DEFER_TASKRUN, set up (with a 4-slot sparse table) by a
// thread that has exited since, so its submitter task is gone: the file
// would be installed by task_work on that task (io_uring/msg_ring.c
// io_msg_fd_remote()), which cannot run. Observes the sender's CQE.
void send_fd_owner_gone(CaseContext& ctx, IoUringBackend& be) {
  int file = ctx.scratch_file("msgfd", 4096, O_RDONLY | O_CLOEXEC);
  if (io_uring_register_files(&be.ring(), &file, 1) != 0) ctx.broken("registering the sender's file");
  io_uring target{};
  std::string failed;
  std::thread owner([&] {
    if (int r = io_uring_queue_init(8, &target, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN); r < 0)
      failed = "target ring: " + errno_name(-r);
    else if (int r2 = io_uring_register_files_sparse(&target, 4); r2 != 0)
      failed = "target's sparse table: " + errno_name(-r2);
  });
  owner.join();
  if (!failed.empty()) ctx.broken(failed);
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_msg_ring(s, target.ring_fd, 0, 0x77, 0);
  s->addr = IORING_MSG_SEND_FD;
  s->addr3 = 0;
  s->file_index = 3;
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  observe_cqes(ctx, reap(ctx, be, 1));
  // Unmapped and closed from here: neither enters the ring.
  io_uring_queue_exit(&target);
  close(file);
}

// IORING_MSG_SEND_FD. mode: send-fd (the sender's slot 0 to the target's
// slot 2) | send-fd-alloc (IORING_FILE_INDEX_ALLOC into a target whose
// allocation range is slot 3 alone: both CQEs' res is 3) | send-fd-cqe-skip
// (IORING_MSG_RING_CQE_SKIP: installed, no CQE on the target) |
// send-fd-empty-src (the sender's slot 1, past its one-file table) |
// send-fd-no-table (a target without registered files) |
// send-fd-slot-out-of-range (target slot 10 of 4) | send-fd-self (the
// sending ring as target). Observes the sender's CQE, the target's (or the
// timed wait), then where a file should be there the fixed READ's res.
void send_fd(CaseContext& ctx, IoUringBackend& be, const std::string& mode) {
  int file = ctx.scratch_file("msgfd", 4096, O_RDONLY | O_CLOEXEC);
  if (io_uring_register_files(&be.ring(), &file, 1) != 0) ctx.broken("registering the sender's file");
  io_uring target{};
  if (io_uring_queue_init(8, &target, 0) < 0) ctx.broken("second ring");
  if (mode != "send-fd-no-table" && io_uring_register_files_sparse(&target, 4) != 0)
    ctx.broken("registering the target's sparse table");
  // The allocation range is the last slot only, so the slot allocated shows.
  if (mode == "send-fd-alloc" && io_uring_register_file_alloc_range(&target, 3, 1) != 0)
    ctx.broken("setting the target's allocation range");
  const int to = mode == "send-fd-self" ? be.ring().ring_fd : target.ring_fd;
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_msg_ring(s, to, 0, 0x77, 0);
  s->addr = IORING_MSG_SEND_FD;
  s->addr3 = mode == "send-fd-empty-src" ? 1 : 0;  // the sender's fixed slot
  // file_index is 1-based; IORING_FILE_INDEX_ALLOC asks for any free slot.
  s->file_index = mode == "send-fd-alloc" ? IORING_FILE_INDEX_ALLOC
                  : mode == "send-fd-slot-out-of-range" ? 11
                                                         : 3;
  if (mode == "send-fd-cqe-skip") s->msg_ring_flags = IORING_MSG_RING_CQE_SKIP;
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  std::vector<RawCqe> got = reap(ctx, be, 1);
  observe_cqes(ctx, got);
  if (mode != "send-fd-self") observe_target(ctx, be, target, false);
  if (got[0].res >= 0 && mode != "send-fd-self") read_fixed_on(ctx, target, mode == "send-fd-alloc" ? 3 : 2);
  io_uring_queue_exit(&target);
  close(file);
}

// mode: data (to a second ring) | self (to the sending ring) | not-a-ring
// (target a regular file) | bad-cmd (command 99 in sqe->addr) | bad-flags
// (an unknown msg_ring flag) | data-cqe-skip (IORING_MSG_RING_CQE_SKIP on a
// DATA message) | data-dst-without-pass (sqe->file_index 5 without
// IORING_MSG_RING_FLAGS_PASS) | data-buf-index (sqe->buf_index 1, a field
// MSG_RING does not take) | flags-pass (FLAGS_PASS, file_index = bit 20:
// the target's CQE carries it as its flags) | data-r-disabled (the target
// set up IORING_SETUP_R_DISABLED, enabled only after the message) |
// send-fd* (send_fd() above), send-fd-owner-gone (send_fd_owner_gone()).
// Observes the sender's CQE, then what the target ring got: res and
// user_data (flags-pass: and the flags), or liburing's answer (timed) when
// nothing came in 50 ms.
AIOH_URING_CHOICE_SCENARIO(uring_msg_ring, 8, mode, "data", "where the message goes",
                           "data", "self", "not-a-ring", "bad-cmd", "bad-flags", "data-cqe-skip",
                           "data-dst-without-pass", "data-buf-index", "flags-pass", "send-fd", "send-fd-alloc",
                           "send-fd-cqe-skip", "send-fd-empty-src", "send-fd-no-table", "send-fd-slot-out-of-range",
                           "send-fd-self", "send-fd-owner-gone", "data-r-disabled") {
  if (mode == "send-fd-owner-gone") return send_fd_owner_gone(ctx, be);
  if (mode.rfind("send-fd", 0) == 0) return send_fd(ctx, be, mode);
  io_uring target{};
  const bool disabled = mode == "data-r-disabled";
  if (io_uring_queue_init(8, &target, disabled ? IORING_SETUP_R_DISABLED : 0) < 0) ctx.broken("second ring");
  int file = -1;
  int fd = target.ring_fd;
  if (mode == "self") fd = be.ring().ring_fd;
  if (mode == "not-a-ring") fd = file = ctx.scratch_file("msg", 4096, O_RDONLY | O_CLOEXEC);
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_msg_ring(s, fd, 42, 0x77, 0);
  if (mode == "bad-cmd") s->addr = 99;
  if (mode == "bad-flags") s->msg_ring_flags = 0x80000000u;
  // CQE_SKIP is for SEND_FD only; a file_index without FLAGS_PASS is refused;
  // with FLAGS_PASS it is the flags word of the target's CQE.
  if (mode == "data-cqe-skip") s->msg_ring_flags = IORING_MSG_RING_CQE_SKIP;
  if (mode == "data-dst-without-pass") s->file_index = 5;
  if (mode == "data-buf-index") s->buf_index = 1;
  if (mode == "flags-pass") {
    s->msg_ring_flags = kMsgFlagsPass;
    s->file_index = kPassedCqeFlags;
  }
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
    // A disabled ring cannot be waited on (io_uring_enter: -EBADFD): enabled
    // first, it shows whether the message was posted while it was disabled.
    if (disabled && io_uring_register(static_cast<unsigned>(target.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0) != 0)
      ctx.broken("enabling the target ring");
    observe_target(ctx, be, target, mode == "flags-pass");
  }
  io_uring_queue_exit(&target);
  if (file >= 0) close(file);
}

}  // namespace
}  // namespace aioh
