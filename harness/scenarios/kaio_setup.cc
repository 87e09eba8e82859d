// io_setup(2) and io_destroy(2) on kernel AIO and libaio: the nr_events
// bounds (0, negative, a count that overflows fs/aio.c ioctx_alloc()'s ring
// size check, one more than fs.aio-max-nr), the *ctxp argument (NULL,
// unmapped, non-zero, read-only: the context is made and undone when the id
// cannot be stored), the system-wide fs.aio-max-nr budget being used up, the
// sysctls' own ranges (fs.aio-max-nr takes any unsigned long, fs.aio-nr is
// read-only), the process's vm.max_map_count being used up (the ring is a
// mapping), and destroying a context twice, a context that never existed,
// and one with I/O still in flight (which must wait for that I/O: the
// buffers are checked afterwards), and one another thread is blocked
// waiting on (it is woken with EINVAL at once).
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "system/settings.h"
#include "kaio_util.h"
#include "pattern.h"
#include "thread_state.h"
#include "wait_timing.h"

namespace aioh {
namespace {

using kaio::aio;

constexpr const char* kAioMaxNr = "/proc/sys/fs/aio-max-nr";
constexpr const char* kAioNr = "/proc/sys/fs/aio-nr";

long read_long(const char* path) {
  std::ifstream f(path);
  long v = -1;
  f >> v;
  return f ? v : -1;
}

// fs.aio-max-nr is lowered through system::SysctlChange: under the
// machine-wide settings lock, with the original journalled, restored on every
// path (its destructor, the runner's undo of a killed child's journal, the
// next run's recovery) — and never mistaken for another run's lowered value.

AIOH_SCENARIO(kaio_setup_nr,
              aioh::param::integer("entries", 64, "nr_events"),
              aioh::param::boolean("over_max", false, "entries = fs.aio-max-nr + 1"),
              aioh::param::integer("ctx_init", 0, "the value *ctxp holds on entry"),
              aioh::param::choice("ctxp", "ok", {"ok", "null", "unmapped", "readonly"}, "where ctxp points")) {
  AioBackendBase& be = aio(ctx);
  long nr = ctx.num("entries");
  // Held (over_max) so that no other run's lowered limit is read as the real one.
  struct LockHeld {
    bool held = false;
    ~LockHeld() { if (held) system::release_settings_lock(); }
  } lock;
  if (ctx.flag("over_max")) {
    if (std::string err = system::acquire_settings_lock(std::string("sysctl ") + kAioMaxNr, nullptr, system::kCaseLockWait);
        !err.empty())
      ctx.broken(err);
    lock.held = true;
    long max = read_long(kAioMaxNr);
    if (max < 0) ctx.broken("cannot read fs.aio-max-nr");
    nr = max + 1;
    // Past 2^28 / sizeof(io_event) / 2 ioctx_alloc() answers EINVAL first.
    if (nr > (0x10000000L / 32) / 2)
      ctx.skip("fs.aio-max-nr is too large to reach the EAGAIN branch");
  }
  AioContext c = static_cast<AioContext>(ctx.num("ctx_init"));
  AioContext* ctxp = &c;
  kaio::FaultPage fault;
  void* ro = MAP_FAILED;
  const std::string where = ctx.str("ctxp");
  if (where == "null") ctxp = nullptr;
  if (where == "unmapped") ctxp = static_cast<AioContext*>(fault.get());
  if (where == "readonly") {
    // Readable (get_user(ctx, ctxp) finds 0) but not writable (put_user fails).
    ro = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED) ctx.broken("mmap failed");
    ctxp = static_cast<AioContext*>(ro);
  }
  Outcome o = be.raw_setup(nr, ctxp);
  ctx.observe(o);
  if (ro != MAP_FAILED) munmap(ro, 4096);
  if (!o.is_error && ctxp == &c) {
    auto* ring = reinterpret_cast<const AioRingHeader*>(c);
    ctx.check(ring->magic == kAioRingMagic && ring->nr >= static_cast<unsigned>(nr),
              "the mapped ring does not hold nr_events entries");
    be.raw_destroy(c);
  }
}

// fs.aio-max-nr used up: lower it to aio-nr + room, take all of it with one
// context, ask for one more event (EAGAIN), give it back with io_destroy and
// ask again. fs/aio.c ioctx_alloc() counts what the caller asked for.
// aio-nr is system-wide and other processes may move it mid-sequence; an
// attempt during which it moved is discarded and retried (only the attempt
// that ran undisturbed is observed).
AIOH_SCENARIO(kaio_setup_exhaust,
              aioh::param::integer("room", 32, "events left under fs.aio-max-nr", 1, 65536)) {
  AioBackendBase& be = aio(ctx);
  const long room = ctx.num("room");
  system::SysctlChange guard{system::kCaseLockWait};
  std::string original;
  for (int attempt = 1;; ++attempt) {
    const long used = read_long(kAioNr);
    if (used < 0) ctx.broken("cannot read fs.aio-nr");
    if (std::string err = guard.set(kAioMaxNr, std::to_string(used + room)); !err.empty()) ctx.broken(err);
    original = guard.original();
    AioContext a = 0, b = 0;
    Outcome first = be.raw_setup(room, &a);
    Outcome second = be.raw_setup(1, &b);
    const long after = read_long(kAioNr);
    const bool undisturbed =
        after == used + (first.is_error ? 0 : room) + (second.is_error ? 0 : 1);
    if (!undisturbed && attempt < 20) {
      if (a) be.raw_destroy(a);
      if (b) be.raw_destroy(b);
      continue;
    }
    ctx.note("fs.aio-max-nr lowered from " + original + " to " +
             std::to_string(used + room) + " (attempt " + std::to_string(attempt) +
             ") and restored");
    ctx.observe(first);
    ctx.observe(second);
    if (!first.is_error) ctx.observe(be.raw_destroy(a));
    AioContext d = 0;
    Outcome again = be.raw_setup(1, &d);
    ctx.observe(again);
    if (!again.is_error) be.raw_destroy(d);
    if (b) be.raw_destroy(b);
    return;
  }
}

// io_destroy(2) of a context another thread is blocked on in an untimed
// io_getevents(min_nr 1): fs/aio.c kill_ioctx() marks it dead and
// wake_up_all(&ctx->wait); the waiter's aio_read_events() sees ctx->dead
// and returns -EINVAL with no event read. The waiter is first seen asleep in
// io_getevents or io_pgetevents (/proc), so the row shows a wake-up and not
// a lookup of a context already dead; it must end within the slack of the
// io_destroy call.
void destroy_wakes_waiter(CaseContext& ctx, AioBackendBase& be, AioContext c) {
  std::atomic<pid_t> tid{0};
  Outcome waited = Outcome::error(EIO, Channel::ret, Phase::wait);
  double returned_at = 0;
  timing::Stopwatch clock;
  std::thread waiter([&] {
    tid = gettid();
    KIoEvent ev;
    waited = be.raw_getevents(c, 1, 1, &ev, nullptr);
    returned_at = clock.ms();
  });
  bool asleep = false;
  for (int i = 0; i < 500 && !asleep; ++i) {
    const long nr = tid ? threads::blocked_syscall(tid) : -1;
    asleep = nr == SYS_io_getevents || nr == SYS_io_pgetevents;
    if (!asleep) usleep(10000);
  }
  const double destroyed_at = clock.ms();
  Outcome d = be.raw_destroy(c);
  be.forget_context();
  waiter.join();
  if (!asleep) ctx.broken("the waiter was not seen asleep in io_getevents within 5 s");
  ctx.observe(d);
  timing::observe_wait_between(ctx, waited, returned_at - destroyed_at, 0, 0,
                               "io_getevents, woken by io_destroy,");
}

AIOH_SCENARIO(kaio_destroy,
              aioh::param::choice("mode", "twice", {"twice", "bad_ctx", "pending_poll", "dio_inflight", "blocked_waiter"},
                                  "what is destroyed")) {
  AioBackendBase& be = aio(ctx);
  const std::string mode = ctx.str("mode");
  if (mode == "bad_ctx") {
    ctx.observe(be.raw_destroy(0x1000));
    return;
  }
  kaio::setup_or_broken(ctx);
  const AioContext c = be.context();
  if (mode == "blocked_waiter") return destroy_wakes_waiter(ctx, be, c);
  int p[2] = {-1, -1};
  int fd = -1;
  const size_t nreq = 16, chunk = 65536;
  AlignedBuffer buf(mode == "dio_inflight" ? nreq * chunk : 4096);
  std::vector<Request> reqs;
  if (mode == "pending_poll") {
    if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
    Request r;
    r.op = Op::poll;
    r.fd = p[0];
    r.poll_events = POLLIN;
    reqs.push_back(r);
  } else if (mode == "dio_inflight") {
    fd = ctx.scratch_file("data", nreq * chunk, O_RDONLY | O_DIRECT);
    if (fd < 0) ctx.broken("cannot open the scratch file with O_DIRECT");
    for (size_t i = 0; i < nreq; ++i) {
      Request r;
      r.op = Op::read;
      r.fd = fd;
      r.buf = buf.data() + i * chunk;
      r.len = chunk;
      r.offset = static_cast<int64_t>(i * chunk);
      r.tag = i;
      reqs.push_back(r);
    }
  }
  if (!reqs.empty()) {
    std::vector<Request*> ptrs;
    for (auto& r : reqs) ptrs.push_back(&r);
    ctx.observe(be.submit(ptrs));
  }
  ctx.observe(be.raw_destroy(c));
  be.forget_context();
  if (mode == "twice") ctx.observe(be.raw_destroy(c));
  if (mode == "pending_poll") {
    KIoEvent ev;
    timespec zero{0, 0};
    ctx.observe(be.raw_getevents(c, 0, 1, &ev, &zero));
  }
  if (mode == "dio_inflight") {
    // io_destroy(2): "will block on the completion of all operations that
    // could not be canceled" -- so every buffer is complete now.
    std::string bad = verify_buffer(buf.data(), nreq * chunk, kFileSeed, 0);
    ctx.check(bad.empty(), "after io_destroy: " + bad);
  }
  for (int f : {p[0], p[1], fd})
    if (f >= 0) close(f);
}


// fs.aio-max-nr / fs.aio-nr written with `value`, the result observed, then
// io_setup(events) through the interface under the resulting limit, and the
// limit read back (`reads_back`: the value the sysctl must hold after).
// fs/aio.c aio_sysctls: aio-max-nr is proc_doulongvec_minmax without
// bounds, aio-nr mode 0444. Restored on every path (system::SysctlChange).
AIOH_SCENARIO(kaio_sysctl,
              aioh::param::choice("sysctl", "aio-max-nr", {"aio-max-nr", "aio-nr"}, "which fs.* sysctl"),
              aioh::param::text("value", "0", "what is written"),
              aioh::param::integer("events", 1, "io_setup nr_events afterwards", 1),
              aioh::param::text("reads_back", "", "what the sysctl must read after (empty: unchanged)")) {
  AioBackendBase& be = aio(ctx);
  // Taken with the value it holds now, then set to the original (the value
  // from before any run changed it), so the row's write meets the real limit
  // and everything after it is undone by the guard.
  system::SysctlChange guard{system::kCaseLockWait};
  if (std::string err = guard.set(kAioMaxNr, system::read_sysctl(kAioMaxNr)); !err.empty()) ctx.broken(err);
  const std::string original = guard.original();
  if (std::string err = guard.set(kAioMaxNr, original); !err.empty()) ctx.broken(err);
  const bool max = ctx.str("sysctl") == "aio-max-nr";
  ctx.observe(scn::write_proc_file(max ? kAioMaxNr : kAioNr, Channel::errno_, ctx.str("value") + "\n"));
  std::ifstream f(kAioMaxNr);
  std::string now;
  f >> now;
  const std::string want = ctx.str("reads_back").empty() ? original : ctx.str("reads_back");
  ctx.check(now == want, "fs.aio-max-nr reads " + now + " after the write, expected " + want);
  AioContext c = 0;
  Outcome s = be.raw_setup(ctx.num("events"), &c);
  ctx.observe(s);
  if (!s.is_error) be.raw_destroy(c);
}

// vm.max_map_count used up by this (forked, per-case) process's own
// mappings: io_setup's ring mmap fails (fs/aio.c aio_setup_ring(): do_mmap
// -> -ENOMEM), then one mapping is given back and io_setup succeeds. Nothing
// global changes; the mappings go with the case.
AIOH_SCENARIO(kaio_setup_map_count, aioh::param::none) {
  AioBackendBase& be = aio(ctx);
  scn::MappingsUsedUp maps(ctx);
  AioContext a = 0, b = 0;
  ctx.observe(be.raw_setup(1, &a));
  maps.give_back(2);
  Outcome again = be.raw_setup(1, &b);
  maps.release();
  ctx.note(maps.note("made"));
  ctx.observe(again);
  if (a) be.raw_destroy(a);
  if (b) be.raw_destroy(b);
}

}  // namespace
}  // namespace aioh
