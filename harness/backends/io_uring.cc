// The io_uring backend: one SQE per Request, one io_uring_submit() per batch,
// completions from cqe->res. liburing returns -errno (io_uring_queue_init(3),
// io_uring_submit(3), io_uring_wait_cqes(3) RETURN VALUE) and must leave
// errno alone, so every liburing call is armed with arm_errno() and judged by
// from_neg_errno(); a breach fails the case. The backend's own SQEs
// (ASYNC_CANCEL) carry user_data with the top bit set and their CQEs never
// reach a scenario; other CQEs seen while waiting for them are stashed and
// returned by the next wait(), in arrival order. Without
// IORING_SETUP_SUBMIT_ALL the kernel stops a batch at an SQE that fails at
// init; submit() then reports the smaller count and the rest stay queued.
// A wait reports what io_uring_wait_cqes() said (its -ETIME, or success with
// the CQEs ready), never a verdict of the backend's own clock; each liburing
// wait call is recorded (wait_calls()) with how long it blocked.
#include "backends/io_uring_backend.h"

#include <cerrno>
#include <chrono>

#include "convention.h"

namespace aioh {

namespace {

__kernel_timespec to_kts(const timespec& t) {
  __kernel_timespec k{};
  k.tv_sec = t.tv_sec;
  k.tv_nsec = t.tv_nsec;
  return k;
}

// Bound on waiting for the backend's own cancel CQE: an ASYNC_CANCEL
// completes inline or after io-wq answers, never after the target does.
constexpr long kCancelWaitSec = 5;

}  // namespace

IoUringBackend::~IoUringBackend() {
  if (up_) teardown();
}

BackendTraits IoUringBackend::traits() const {
  return {.vectored = true, .rw_flags = true, .poll = true, .nop = true};
}

Outcome IoUringBackend::liburing_ret(long ret, int saved_errno, Phase phase,
                                     std::string_view call) {
  return from_neg_errno(ret, saved_errno, phase, conv_, call);
}

Outcome IoUringBackend::res_outcome(int32_t res) {
  Outcome o = from_res_field(res, Channel::cqe_res);
  o.phase = Phase::completion;
  return o;
}

Outcome IoUringBackend::setup(const SetupParams& p) {
  io_uring_params params{};
  params.flags = p.flags;
  if (p.cq_entries) {
    params.flags |= IORING_SETUP_CQSIZE;
    params.cq_entries = *p.cq_entries;
  }
  return setup_raw(p.entries, params);
}

Outcome IoUringBackend::setup_raw(unsigned entries, io_uring_params& p) {
  if (up_) teardown();
  arm_errno();
  int ret = io_uring_queue_init_params(entries, &ring_, &p);
  int e = errno;
  Outcome o = liburing_ret(ret, e, Phase::setup, "io_uring_queue_init_params");
  if (ret == 0) {
    up_ = true;
    params_ = p;
  }
  return o;
}

io_uring_sqe* IoUringBackend::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    // SQ full: hand what is queued to the kernel and try once more.
    arm_errno();
    int ret = io_uring_submit(&ring_);
    liburing_ret(ret, errno, Phase::submit, "io_uring_submit");
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

Outcome IoUringBackend::submit_queued() {
  arm_errno();
  int ret = io_uring_submit(&ring_);
  int e = errno;
  return liburing_ret(ret, e, Phase::submit, "io_uring_submit");
}

Outcome IoUringBackend::submit(std::vector<Request*> reqs) {
  if (!up_) return Outcome::error(EBADF, Channel::ret, Phase::submit);
  for (Request* r : reqs) {
    io_uring_sqe* sqe = get_sqe();
    if (!sqe) return Outcome::error(EBUSY, Channel::ret, Phase::submit);
    switch (r->op) {
      case Op::read:
        io_uring_prep_read(sqe, r->fd, r->buf, r->len, r->offset);
        break;
      case Op::write:
        io_uring_prep_write(sqe, r->fd, r->buf, r->len, r->offset);
        break;
      case Op::readv:
        io_uring_prep_readv(sqe, r->fd, r->iov.data(), r->iov.size(),
                            r->offset);
        break;
      case Op::writev:
        io_uring_prep_writev(sqe, r->fd, r->iov.data(), r->iov.size(),
                             r->offset);
        break;
      case Op::fsync:
        io_uring_prep_fsync(sqe, r->fd, 0);
        break;
      case Op::fdatasync:
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        break;
      case Op::poll:
        io_uring_prep_poll_add(sqe, r->fd,
                               static_cast<unsigned short>(r->poll_events));
        break;
      case Op::nop:
        io_uring_prep_nop(sqe);
        break;
    }
    if (r->op == Op::read || r->op == Op::write || r->op == Op::readv ||
        r->op == Op::writev)
      sqe->rw_flags = r->rw_flags;
    sqe->ioprio = static_cast<__u16>(r->reqprio);
    if (r->raw_opcode >= 0) sqe->opcode = static_cast<__u8>(r->raw_opcode);
    io_uring_sqe_set_data64(sqe, r->tag);
  }
  return submit_queued();
}

void IoUringBackend::drain_ready() {
  for (int round = 0; round < 64; ++round) {
    // DEFER_TASKRUN completions and overflowed CQEs only reach the CQ ring
    // when the task enters the kernel with GETEVENTS.
    bool need_enter = (params_.flags & IORING_SETUP_DEFER_TASKRUN) ||
                      (IO_URING_READ_ONCE(*ring_.sq.kflags) &
                       (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
    if (need_enter) {
      arm_errno();
      int ret = io_uring_get_events(&ring_);
      liburing_ret(ret, errno, Phase::wait, "io_uring_get_events");
    }
    unsigned head, n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      if (cqe->user_data & kUringInternalTag) continue;
      stash_.push_back(RawCqe{cqe->user_data, cqe->res, cqe->flags});
    }
    io_uring_cq_advance(&ring_, n);
    bool overflow =
        IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
    if (n == 0 && !overflow) return;
    if (!(params_.flags & IORING_SETUP_DEFER_TASKRUN) && !overflow) return;
  }
}

Outcome IoUringBackend::reap(unsigned n, std::optional<timespec> timeout,
                             std::vector<RawCqe>& out, unsigned max) {
  using clock = std::chrono::steady_clock;
  const auto deadline =
      timeout ? clock::now() + std::chrono::seconds(timeout->tv_sec) +
                    std::chrono::nanoseconds(timeout->tv_nsec)
              : clock::time_point::max();
  wait_calls_.clear();
  drain_ready();
  Outcome err;
  bool failed = false;
  while (stash_.size() < n && up_) {
    unsigned need = n - static_cast<unsigned>(stash_.size());
    io_uring_cqe* cqe = nullptr;
    int ret, e;
    const auto t0 = clock::now();
    if (timeout) {
      // The time left of the caller's timeout; once it is spent, a zero
      // timeout lets liburing give its own answer for what is ready.
      auto left = deadline - t0;
      if (left < clock::duration::zero()) left = clock::duration::zero();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
      __kernel_timespec ts{};
      ts.tv_sec = ns.count() / 1000000000;
      ts.tv_nsec = ns.count() % 1000000000;
      arm_errno();
      ret = io_uring_wait_cqes(&ring_, &cqe, need, &ts, nullptr);
      e = errno;
    } else {
      arm_errno();
      ret = io_uring_wait_cqe_nr(&ring_, &cqe, need);
      e = errno;
    }
    wait_calls_.push_back(WaitCall{
        ret, need,
        std::chrono::duration<double, std::milli>(clock::now() - t0).count()});
    if (ret < 0) {
      err = liburing_ret(ret, e, Phase::wait, "io_uring_wait_cqes");
      // liburing's own answer (-ETIME included); what arrived meanwhile
      // is still handed over.
      failed = true;
      drain_ready();
      break;
    }
    liburing_ret(ret, e, Phase::wait, "io_uring_wait_cqes");
    const size_t before = stash_.size();
    drain_ready();
    // Success with fewer than asked: wait again while time is left; with
    // none left (or nothing new) the count is liburing's answer.
    if (stash_.size() == before || (timeout && clock::now() >= deadline)) break;
  }
  unsigned moved = 0;
  while (!stash_.empty() && moved < max) {
    out.push_back(stash_.front());
    stash_.pop_front();
    ++moved;
  }
  if (failed) return err;
  return Outcome::ok(moved, Channel::ret, Phase::wait);
}

Outcome IoUringBackend::wait(unsigned min_nr, unsigned max_nr,
                             std::optional<timespec> timeout,
                             std::vector<Completion>& out) {
  if (!up_) return Outcome::error(EBADF, Channel::ret, Phase::wait);
  std::vector<RawCqe> raw;
  Outcome o = reap(min_nr, timeout, raw, max_nr);
  for (const RawCqe& c : raw) out.push_back(Completion{c.user_data, res_outcome(c.res)});
  return o;
}

Outcome IoUringBackend::cancel(const Request& r) {
  if (!up_) return Outcome::error(EBADF, Channel::ret, Phase::cancel);
  io_uring_sqe* sqe = get_sqe();
  if (!sqe) return Outcome::error(EBUSY, Channel::ret, Phase::cancel);
  io_uring_prep_cancel64(sqe, r.tag, 0);
  const uint64_t mine = kUringInternalTag | ++next_internal_;
  io_uring_sqe_set_data64(sqe, mine);
  Outcome s = submit_queued();
  if (s.is_error) {
    s.phase = Phase::cancel;
    return s;
  }
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts = to_kts(timespec{kCancelWaitSec, 0});
    arm_errno();
    int ret = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
    int e = errno;
    if (ret < 0) {
      Outcome o = liburing_ret(ret, e, Phase::cancel, "io_uring_wait_cqe_timeout");
      return o;
    }
    RawCqe c{cqe->user_data, cqe->res, cqe->flags};
    io_uring_cqe_seen(&ring_, cqe);
    if (c.user_data == mine) {
      Outcome o = from_res_field(c.res, Channel::cqe_res);
      o.phase = Phase::cancel;
      return o;
    }
    if (!(c.user_data & kUringInternalTag)) stash_.push_back(c);
  }
}

Outcome IoUringBackend::teardown() {
  if (up_) {
    io_uring_queue_exit(&ring_);
    up_ = false;
  }
  stash_.clear();
  return Outcome::ok(0, Channel::ret, Phase::teardown);
}

// Available when the probe's own ring round trip worked (probe.cc).
AIOH_BACKEND("io_uring", .order = 40, .make = make_as<IoUringBackend>, .available = [](const Environment& env) {
  return InterfaceAvailability{env.flag("io_uring"), env.note("io_uring_reason")};
});

}  // namespace aioh
