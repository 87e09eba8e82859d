// The glibc POSIX AIO backend: aio_read/aio_write/aio_fsync for one request,
// lio_listio(LIO_NOWAIT) for several, aio_error/aio_return/aio_suspend to
// collect, aio_cancel to cancel. It asserts glibc's conventions on every
// call (submission calls return 0 or -1 with errno; aio_error returns the
// status and aio_return -1 exactly when that status is an error, neither
// touching errno; aio_suspend returns 0 or -1 with errno) and keeps every
// aiocb alive until glibc's worker threads are done with it: glibc writes
// the result into the caller's aiocb from another thread, so freeing one
// early is a use-after-free in the library, not in the case.
#include "posix_aio_backend.h"

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "convention.h"
#include "errno_names.h"

namespace aioh {
namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

timespec ns_to_ts(int64_t ns) {
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000),
                  static_cast<long>(ns % 1000000000)};
}

const char* cancel_sym(int rc) {
  switch (rc) {
    case AIO_CANCELED: return "AIO_CANCELED";
    case AIO_NOTCANCELED: return "AIO_NOTCANCELED";
    case AIO_ALLDONE: return "AIO_ALLDONE";
  }
  return nullptr;
}

}  // namespace

PosixAioBackend::PosixAioBackend() {
  // Small and explicit: a few workers, glibc's minimum table size, and
  // idle workers that linger one second (glibc's default).
  init_.aio_threads = 4;
  init_.aio_num = 32;
  init_.aio_idle_time = 1;
}

PosixAioBackend::~PosixAioBackend() {
  teardown();
  // glibc may still write into these: leak them on purpose.
  for (auto& e : abandoned_) (void)e.release();
}

BackendTraits PosixAioBackend::traits() const {
  return {.nop = true};  // LIO_NOP through lio_listio; it produces no completion
}

Outcome PosixAioBackend::setup(const SetupParams& p) {
  (void)p;  // no context: nothing in SetupParams maps onto aioinit
  // aio_init returns void; glibc ignores aio_threads/aio_num once its
  // request pool exists (sysdeps/pthread/aio_misc.c __aio_init).
  aio_init(&init_);
  return Outcome::ok(0, Channel::ret, Phase::setup);
}

PosixAioBackend::Entry* PosixAioBackend::fresh_entry(const Request& r) {
  auto it = entries_.find(r.tag);
  if (it != entries_.end()) {
    if (it->second->cb.__error_code == EINPROGRESS)
      abandoned_.push_back(std::move(it->second));
    entries_.erase(it);
    order_.erase(std::remove(order_.begin(), order_.end(), r.tag), order_.end());
  }
  auto e = std::make_unique<Entry>();
  Entry* raw = e.get();
  entries_[r.tag] = std::move(e);
  return raw;
}

void PosixAioBackend::fill(Entry& e, const Request& r) {
  std::memset(&e.cb, 0, sizeof e.cb);
  e.cb.aio_fildes = r.fd;
  e.cb.aio_buf = r.buf;
  e.cb.aio_nbytes = r.len;
  e.cb.aio_offset = r.offset;
  e.cb.aio_reqprio = r.reqprio;
  auto s = sev_.find(r.tag);
  if (s != sev_.end()) e.cb.aio_sigevent = s->second;
  else e.cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  e.op = r.op;
  e.len = r.len;
  e.tracked = false;
}

Outcome PosixAioBackend::submit(std::vector<Request*> reqs) {
  if (reqs.size() != 1 || reqs[0] == nullptr || reqs[0]->raw_opcode >= 0 ||
      reqs[0]->op == Op::nop)
    return submit_listio(LIO_NOWAIT, std::move(reqs));

  Request& r = *reqs[0];
  const char* call = nullptr;
  switch (r.op) {
    case Op::read: call = "aio_read"; break;
    case Op::write: call = "aio_write"; break;
    case Op::fsync: return submit_fsync(&r, O_SYNC);
    case Op::fdatasync: return submit_fsync(&r, O_DSYNC);
    default:
      // readv/writev/poll have no POSIX AIO call (traits() says so).
      return Outcome::error(EOPNOTSUPP, Channel::ret, Phase::submit);
  }
  Entry* e = fresh_entry(r);
  fill(*e, r);
  arm_errno();
  int rc = r.op == Op::read ? aio_read(&e->cb) : aio_write(&e->cb);
  int saved = errno;
  Outcome o = from_minus1_errno(rc, saved, Phase::submit, conv_, call);
  if (rc != 0) return o;
  e->tracked = true;
  order_.push_back(r.tag);
  return Outcome::ok(1, Channel::ret, Phase::submit);
}

Outcome PosixAioBackend::submit_fsync(Request* r, int op) {
  Entry* e = fresh_entry(*r);
  fill(*e, *r);
  e->op = op == O_DSYNC ? Op::fdatasync : Op::fsync;
  arm_errno();
  int rc = aio_fsync(op, &e->cb);
  int saved = errno;
  Outcome o = from_minus1_errno(rc, saved, Phase::submit, conv_, "aio_fsync");
  if (rc != 0) return o;
  e->tracked = true;
  order_.push_back(r->tag);
  return Outcome::ok(1, Channel::ret, Phase::submit);
}

Outcome PosixAioBackend::submit_listio(int mode, std::vector<Request*> reqs,
                                       sigevent* list_sev) {
  std::vector<aiocb*> list;
  for (Request* r : reqs) {
    if (r == nullptr) {
      list.push_back(nullptr);  // POSIX: NULL entries are ignored
      continue;
    }
    int opcode = r->raw_opcode;
    if (opcode < 0) {
      switch (r->op) {
        case Op::read: opcode = LIO_READ; break;
        case Op::write: opcode = LIO_WRITE; break;
        case Op::nop: opcode = LIO_NOP; break;
        default:
          return Outcome::error(EOPNOTSUPP, Channel::ret, Phase::submit);
      }
    }
    Entry* e = fresh_entry(*r);
    fill(*e, *r);
    e->cb.aio_lio_opcode = opcode;
    // A raw opcode means whatever glibc makes of it: no per-op result check.
    if (r->raw_opcode >= 0) e->op = Op::nop;
    // LIO_NOP members are skipped by glibc and never complete; everything
    // else carries a status glibc writes (even a member it refused).
    if (opcode != LIO_NOP) {
      e->tracked = true;
      order_.push_back(r->tag);
    }
    list.push_back(&e->cb);
  }
  aiocb* none[1] = {nullptr};  // glibc's prototype is nonnull
  arm_errno();
  int rc = lio_listio(mode, list.empty() ? none : list.data(),
                      static_cast<int>(list.size()), list_sev);
  int saved = errno;
  Outcome o = from_minus1_errno(rc, saved, Phase::submit, conv_, "lio_listio");
  if (rc != 0) return o;
  return Outcome::ok(static_cast<int64_t>(list.size()), Channel::ret, Phase::submit);
}

aiocb* PosixAioBackend::control_block(uint64_t tag) {
  auto it = entries_.find(tag);
  return it == entries_.end() ? nullptr : &it->second->cb;
}

size_t PosixAioBackend::outstanding() const {
  size_t n = 0;
  for (auto& [tag, e] : entries_) n += e->tracked;
  return n;
}

Outcome PosixAioBackend::error_of(const aiocb* cb) {
  arm_errno();
  int err = aio_error(cb);
  int saved = errno;
  if (err == -1)
    return from_minus1_errno(-1, saved, Phase::completion, conv_, "aio_error");
  if (saved != kErrnoSentinel)
    conv_.breach(fmt::format("aio_error returned {} and changed errno to {}",
                             errno_name(err), errno_name(saved)));
  if (err < 0) {
    conv_.breach(fmt::format("aio_error returned {}: neither a status nor -1", err));
    return Outcome::ok(err, Channel::aio_error, Phase::completion);
  }
  if (err == 0) return Outcome::ok(0, Channel::aio_error, Phase::completion);
  return Outcome::error(err, Channel::aio_error, Phase::completion);
}

Outcome PosixAioBackend::return_of(aiocb* cb) {
  arm_errno();
  ssize_t r = aio_return(cb);
  int saved = errno;
  if (r == -1 && saved != kErrnoSentinel)
    return Outcome::error(saved, Channel::errno_, Phase::completion);
  if (saved != kErrnoSentinel)
    conv_.breach(fmt::format("aio_return returned {} and changed errno to {}",
                             r, errno_name(saved)));
  return Outcome::ok(r, Channel::aio_return, Phase::completion);
}

// One finished request: aio_error's status decides the channel; aio_return
// must agree with it (POSIX aio_return(): -1 for a failed operation, else
// what read/write/fsync returned).
Outcome PosixAioBackend::reap(Entry& e) {
  Outcome st = error_of(&e.cb);
  e.tracked = false;
  if (st.channel == Channel::errno_) {
    conv_.breach(fmt::format("aio_error failed with {} for a submitted aiocb",
                             errno_name(st.err)));
    return st;
  }
  Outcome rv = return_of(&e.cb);
  if (rv.channel == Channel::errno_) {
    conv_.breach(fmt::format("aio_return failed with {} for a finished aiocb",
                             errno_name(rv.err)));
    return rv;
  }
  if (st.is_error) {
    if (rv.value != -1)
      conv_.breach(fmt::format("aio_error reported {} but aio_return gave {} (must be -1)",
                               errno_name(st.err), rv.value));
    return st;
  }
  if (rv.value < 0)
    conv_.breach(fmt::format("aio_error reported success but aio_return gave {}", rv.value));
  else if ((e.op == Op::read || e.op == Op::write) &&
           static_cast<uint64_t>(rv.value) > e.len)
    conv_.breach(fmt::format("aio_return gave {}, more than aio_nbytes {}", rv.value, e.len));
  else if ((e.op == Op::fsync || e.op == Op::fdatasync) && rv.value != 0)
    conv_.breach(fmt::format("aio_fsync's aio_return gave {} instead of 0", rv.value));
  return rv;
}

Outcome PosixAioBackend::wait(unsigned min_nr, unsigned max_nr,
                              std::optional<timespec> timeout,
                              std::vector<Completion>& out) {
  const int64_t deadline =
      timeout ? now_ns() + int64_t{timeout->tv_sec} * 1000000000 + timeout->tv_nsec : 0;
  unsigned got = 0;
  for (;;) {
    for (uint64_t tag : std::vector<uint64_t>(order_)) {
      if (got >= max_nr) break;
      Entry& e = *entries_.at(tag);
      if (!e.tracked) continue;
      if (aio_error(&e.cb) == EINPROGRESS) continue;
      out.push_back({tag, reap(e)});
      got++;
    }
    order_.erase(std::remove_if(order_.begin(), order_.end(),
                                [&](uint64_t t) { return !entries_.at(t)->tracked; }),
                 order_.end());
    if (got >= min_nr || got >= max_nr)
      return Outcome::ok(got, Channel::ret, Phase::wait);

    std::vector<const aiocb*> pending;
    for (uint64_t tag : order_) pending.push_back(&entries_.at(tag)->cb);
    timespec left{};
    if (timeout) {
      int64_t rem = deadline - now_ns();
      if (rem <= 0)
        return Outcome::error(EAGAIN, Channel::errno_, Phase::wait);
      left = ns_to_ts(rem);
    }
    // Nothing to suspend on: glibc's aio_suspend would return 0 at once and
    // this loop would spin, so report the shortfall now.
    if (pending.empty()) return Outcome::error(EAGAIN, Channel::errno_, Phase::wait);
    Outcome s = suspend(pending, static_cast<int>(pending.size()),
                        timeout ? &left : nullptr);
    if (s.is_error && s.err != EAGAIN) return s;  // EINTR and the like
  }
}

Outcome PosixAioBackend::suspend(const std::vector<const aiocb*>& list, int nent,
                                 const timespec* timeout) {
  arm_errno();
  const aiocb* none[1] = {nullptr};  // glibc's prototype is nonnull
  int rc = aio_suspend(list.empty() ? none : list.data(), nent, timeout);
  int saved = errno;
  if (rc > 0)
    conv_.breach(fmt::format("aio_suspend returned {} (must be 0 or -1)", rc));
  return from_minus1_errno(rc, saved, Phase::wait, conv_, "aio_suspend");
}

Outcome PosixAioBackend::cancel_raw(int fd, aiocb* cb) {
  arm_errno();
  int rc = aio_cancel(fd, cb);
  int saved = errno;
  if (const char* sym = cancel_sym(rc))
    return Outcome::ok(rc, Channel::ret, Phase::cancel, sym);
  if (rc != -1)
    conv_.breach(fmt::format("aio_cancel returned {}: not AIO_CANCELED, "
                             "AIO_NOTCANCELED, AIO_ALLDONE or -1", rc));
  return from_minus1_errno(rc, saved, Phase::cancel, conv_, "aio_cancel");
}

Outcome PosixAioBackend::cancel(const Request& r) {
  if (aiocb* cb = control_block(r.tag)) return cancel_raw(r.fd, cb);
  // Never submitted: a blank aiocb for the same fd (glibc: AIO_ALLDONE).
  aiocb blank{};
  blank.aio_fildes = r.fd;
  return cancel_raw(r.fd, &blank);
}

Outcome PosixAioBackend::teardown() {
  if (torn_down_) return Outcome::ok(0, Channel::ret, Phase::teardown);
  torn_down_ = true;
  // Cancel what is still queued, then wait (bounded) for what is running:
  // a worker blocked forever would otherwise write into a freed aiocb.
  std::vector<Entry*> busy;
  for (auto& [tag, e] : entries_)
    if (e->cb.__error_code == EINPROGRESS) {
      aio_cancel(e->cb.aio_fildes, &e->cb);
      busy.push_back(e.get());
    }
  const int64_t deadline = now_ns() + int64_t{teardown_ms_} * 1000000;
  for (;;) {
    std::vector<const aiocb*> pending;
    for (Entry* e : busy)
      if (aio_error(&e->cb) == EINPROGRESS) pending.push_back(&e->cb);
    if (pending.empty()) break;
    int64_t rem = deadline - now_ns();
    if (rem <= 0) {
      conv_.breach(fmt::format(
          "teardown: {} request(s) still in progress after {} ms (fd {} first); "
          "their aiocbs are abandoned, not freed",
          pending.size(), teardown_ms_, pending[0]->aio_fildes));
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second->cb.__error_code == EINPROGRESS) {
          abandoned_.push_back(std::move(it->second));
          it = entries_.erase(it);
        } else {
          ++it;
        }
      }
      break;
    }
    timespec left = ns_to_ts(rem);
    aio_suspend(pending.data(), static_cast<int>(pending.size()), &left);
  }
  return Outcome::ok(0, Channel::ret, Phase::teardown);
}

// glibc's AIO runs on threads and plain pread/pwrite: available everywhere.
// aio_return's -1 is a value a row may expect.
AIOH_BACKEND("posix-aio", .order = 10, .make = make_as<PosixAioBackend>,
             .available = [](const Environment&) { return InterfaceAvailability{true, ""}; },
             .negative_values = true);

}  // namespace aioh
