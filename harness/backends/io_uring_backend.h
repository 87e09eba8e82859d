// The io_uring backend as a concrete class, so io_uring-only scenarios
// (scenarios/io_uring_*.cc) can reach the ring and build SQEs the generic
// Request cannot describe (timeouts, links, cancel flags, fixed files),
// while still sharing the backend's CQE stash and convention checks: a CQE
// the backend consumed while waiting for its own cancel answer is handed to
// whoever reaps next, and internal CQEs (top bit of user_data) never are.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "backend.h"

namespace aioh {

// user_data values with this bit set belong to the backend (its cancel
// SQEs, liburing's LIBURING_UDATA_TIMEOUT) and are never reported.
inline constexpr uint64_t kUringInternalTag = 1ULL << 63;

struct RawCqe {
  uint64_t user_data = 0;
  int32_t res = 0;
  uint32_t flags = 0;
};

class IoUringBackend final : public Backend {
 public:
  IoUringBackend() = default;
  ~IoUringBackend() override;

  std::string_view name() const override { return "io_uring"; }
  AIOH_BACKEND_OVERRIDES;

  // ---- for io_uring-only scenarios ----
  bool is_setup() const { return up_; }
  struct io_uring& ring() { return ring_; }
  // The params the kernel filled in at setup (sq/cq entries, features).
  const io_uring_params& params() const { return params_; }
  // Setup with a caller-built io_uring_params (reserved fields, wq_fd,
  // sq_thread_cpu); same convention checks as setup(). phase setup.
  Outcome setup_raw(unsigned entries, io_uring_params& p);
  // A free SQE, flushing the SQ once if it is full; nullptr if still none.
  io_uring_sqe* get_sqe();
  // io_uring_submit() of whatever SQEs are queued. phase submit.
  Outcome submit_queued();
  // Wait until at least `n` reportable CQEs are available (stash included),
  // or the timeout; then move them all (up to max) into `out` in arrival
  // order. The answer is liburing's: ETIME@wait only when
  // io_uring_wait_cqes() itself returned -ETIME, its other errors as they
  // are; otherwise value = the count moved (fewer than n when liburing
  // reported success with fewer ready: the kernel answers 0, not -ETIME,
  // when its timeout expires with the CQ ring non-empty). A success that
  // leaves fewer than n is waited again for the rest of the timeout (the
  // kernel caps min_complete at the CQ ring size).
  Outcome reap(unsigned n, std::optional<timespec> timeout,
               std::vector<RawCqe>& out, unsigned max = ~0u);
  // The liburing wait calls the last reap()/wait() made: what each
  // returned, for how many CQEs it waited, and how long it blocked.
  struct WaitCall {
    int ret = 0;
    unsigned wait_nr = 0;
    double elapsed_ms = 0;
  };
  const std::vector<WaitCall>& wait_calls() const { return wait_calls_; }
  // A cqe->res as a completion Outcome (value, or errno name incl. kernel-
  // internal codes).
  static Outcome res_outcome(int32_t res);
  // A liburing call's return value under "-errno, errno untouched".
  Outcome liburing_ret(long ret, int saved_errno, Phase phase,
                       std::string_view call);

 private:
  void drain_ready();  // move ready CQEs from the CQ ring to the stash

  struct io_uring ring_ {};
  io_uring_params params_{};
  bool up_ = false;
  uint64_t next_internal_ = 0;
  std::deque<RawCqe> stash_;
  std::vector<WaitCall> wait_calls_;
};

}  // namespace aioh
