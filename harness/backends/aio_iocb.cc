// Request -> struct iocb for kernel AIO and libaio, and the backend logic the
// two share (fs/aio.c is the same kernel code under both; only the calling
// convention differs, and that lives in the raw_* calls of each backend).
#include "aio_iocb.h"

#include <linux/aio_abi.h>

#include <cstddef>
#include <cstring>

#include "convention.h"

namespace aioh {

static_assert(sizeof(KIocb) == sizeof(struct iocb));
static_assert(offsetof(KIocb, aio_rw_flags) == offsetof(struct iocb, aio_rw_flags));
static_assert(offsetof(KIocb, aio_lio_opcode) == offsetof(struct iocb, aio_lio_opcode));
static_assert(offsetof(KIocb, aio_reqprio) == offsetof(struct iocb, aio_reqprio));
static_assert(offsetof(KIocb, aio_buf) == offsetof(struct iocb, aio_buf));
static_assert(offsetof(KIocb, aio_reserved2) == offsetof(struct iocb, aio_reserved2));
static_assert(offsetof(KIocb, aio_resfd) == offsetof(struct iocb, aio_resfd));
static_assert(sizeof(KIoEvent) == sizeof(struct io_event));
static_assert(offsetof(KIoEvent, res) == offsetof(struct io_event, res));
static_assert(IOCB_CMD_PREADV == kIocbCmdPreadv && IOCB_CMD_POLL == kIocbCmdPoll &&
              IOCB_CMD_NOOP == kIocbCmdNoop && IOCB_FLAG_IOPRIO == kIocbFlagIoprio);

void build_iocb(const Request& r, const std::vector<iovec>& iov, KIocb& cb) {
  cb = KIocb{};
  cb.aio_data = r.tag;
  cb.aio_fildes = static_cast<uint32_t>(r.fd);
  cb.aio_rw_flags = r.rw_flags;
  cb.aio_offset = r.offset;
  switch (r.op) {
    case Op::read:
    case Op::write:
      cb.aio_lio_opcode = r.op == Op::read ? kIocbCmdPread : kIocbCmdPwrite;
      cb.aio_buf = reinterpret_cast<uintptr_t>(r.buf);
      cb.aio_nbytes = r.len;
      break;
    case Op::readv:
    case Op::writev:
      // fs/aio.c aio_setup_rw(): aio_buf is the iovec array, aio_nbytes its count.
      cb.aio_lio_opcode = r.op == Op::readv ? kIocbCmdPreadv : kIocbCmdPwritev;
      cb.aio_buf = reinterpret_cast<uintptr_t>(iov.data());
      cb.aio_nbytes = iov.size();
      break;
    case Op::fsync:
      cb.aio_lio_opcode = kIocbCmdFsync;
      break;
    case Op::fdatasync:
      cb.aio_lio_opcode = kIocbCmdFdsync;
      break;
    case Op::poll:
      // fs/aio.c aio_poll(): the event mask travels in aio_buf.
      cb.aio_lio_opcode = kIocbCmdPoll;
      cb.aio_buf = static_cast<uint16_t>(r.poll_events);
      break;
    case Op::nop:
      cb.aio_lio_opcode = kIocbCmdNoop;
      break;
  }
  if (r.resfd >= 0) {
    cb.aio_flags |= kIocbFlagResfd;
    cb.aio_resfd = static_cast<uint32_t>(r.resfd);
  }
  if (r.reqprio != 0) {
    cb.aio_flags |= kIocbFlagIoprio;
    cb.aio_reqprio = static_cast<int16_t>(r.reqprio);
  }
  if (r.raw_opcode >= 0) cb.aio_lio_opcode = static_cast<uint16_t>(r.raw_opcode);
}

BackendTraits AioBackendBase::traits() const {
  // No nop: IOCB_CMD_NOOP meets fs/aio.c __io_submit_one()'s default (EINVAL).
  // Only IOCB_CMD_POLL has a cancel method. kaio-poll.pipe-read-blocks-submit
  // shows a pipe read blocking in io_submit.
  return {.vectored = true, .rw_flags = true, .poll = true, .pipe_read_blocks_submit = true};
}

Outcome AioBackendBase::setup(const SetupParams& p) {
  AioContext c = 0;
  Outcome o = raw_setup(static_cast<long>(p.entries), &c);
  if (!o.is_error) {
    ctx_ = c;
    live_ = true;
  }
  return o;
}

Outcome AioBackendBase::submit(std::vector<Request*> reqs) {
  std::vector<KIocb*> arr;
  arr.reserve(reqs.size());
  for (Request* r : reqs) {
    auto slot = std::make_unique<Slot>();
    slot->iov = r->iov;
    build_iocb(*r, slot->iov, slot->cb);
    arr.push_back(&slot->cb);
    auto& cur = slots_[r->tag];
    if (cur) retired_.push_back(std::move(cur));
    cur = std::move(slot);
  }
  return raw_submit(ctx_, static_cast<long>(arr.size()), arr.data());
}

Completion AioBackendBase::to_completion(const KIoEvent& ev) {
  return Completion{ev.data, from_res_field(ev.res, Channel::io_event_res)};
}

Outcome AioBackendBase::wait(unsigned min_nr, unsigned max_nr,
                             std::optional<timespec> timeout,
                             std::vector<Completion>& out) {
  std::vector<KIoEvent> evs(max_nr ? max_nr : 1);
  timespec ts = timeout.value_or(timespec{});
  Outcome o = raw_getevents(ctx_, min_nr, max_nr, evs.data(),
                            timeout ? &ts : nullptr);
  if (!o.is_error)
    for (int64_t i = 0; i < o.value && i < static_cast<int64_t>(evs.size()); ++i)
      out.push_back(to_completion(evs[i]));
  return o;
}

KIocb* AioBackendBase::iocb_of(uint64_t tag) {
  auto it = slots_.find(tag);
  return it == slots_.end() ? nullptr : &it->second->cb;
}

Outcome AioBackendBase::cancel(const Request& r) {
  KIoEvent ev;
  if (KIocb* cb = iocb_of(r.tag)) return raw_cancel(ctx_, cb, &ev);
  // Never submitted: ask the kernel about a fresh iocb (its aio_key is 0,
  // not KIOCB_KEY), which is what a caller with a stale pointer would do.
  KIocb fresh;
  build_iocb(r, r.iov, fresh);
  return raw_cancel(ctx_, &fresh, &ev);
}

Outcome AioBackendBase::teardown() {
  if (!live_) return Outcome::ok(0, Channel::ret, Phase::teardown);
  live_ = false;
  Outcome o = raw_destroy(ctx_);
  slots_.clear();
  retired_.clear();
  return o;
}

AioBackendBase* as_aio_backend(Backend& be) {
  return dynamic_cast<AioBackendBase*>(&be);
}

}  // namespace aioh
