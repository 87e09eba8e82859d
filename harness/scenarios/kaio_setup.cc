// io_setup(2) and io_destroy(2) on kernel AIO and libaio: the nr_events
// bounds (0, a count that overflows fs/aio.c ioctx_alloc()'s ring size check,
// one more than fs.aio-max-nr), the *ctxp argument, the system-wide
// fs.aio-max-nr budget being used up, and destroying a context twice, a
// context that never existed, and one with I/O still in flight (which must
// wait for that I/O: the buffers are checked afterwards).
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "system/settings.h"
#include "kaio_util.h"
#include "pattern.h"

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
              aioh::param::integer("entries", 64, "io_setup's nr_events", 0, UINT32_MAX),
              aioh::param::boolean("over_max", false, "ask for fs.aio-max-nr + 1 events instead of entries"),
              aioh::param::integer("ctx_init", 0, "the value *ctxp holds on entry (io_setup wants 0)"),
              aioh::param::choice("ctxp", "ok", {"ok", "null"}, "ctxp: a context variable, or NULL")) {
  AioBackendBase& be = aio(ctx);
  long nr = ctx.num("entries");
  if (ctx.flag("over_max")) {
    long max = read_long(kAioMaxNr);
    if (max < 0) ctx.broken("cannot read fs.aio-max-nr");
    nr = max + 1;
    // Past 2^28 / sizeof(io_event) / 2 ioctx_alloc() answers EINVAL first.
    if (nr > (0x10000000L / 32) / 2)
      ctx.skip("fs.aio-max-nr is too large to reach the EAGAIN branch");
  }
  AioContext c = static_cast<AioContext>(ctx.num("ctx_init"));
  Outcome o = be.raw_setup(nr, ctx.str("ctxp") == "null" ? nullptr : &c);
  ctx.observe(o);
  if (!o.is_error) {
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
              aioh::param::integer("room", 32, "events left under fs.aio-max-nr, taken by one context", 1, 65536)) {
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

AIOH_SCENARIO(kaio_destroy,
              aioh::param::choice("mode", "twice", {"twice", "bad_ctx", "pending_poll", "dio_inflight"},
                                  "destroy twice, a context that never was, with a poll pending, or with O_DIRECT reads in flight")) {
  AioBackendBase& be = aio(ctx);
  const std::string mode = ctx.str("mode");
  if (mode == "bad_ctx") {
    ctx.observe(be.raw_destroy(0x1000));
    return;
  }
  kaio::setup_or_broken(ctx);
  const AioContext c = be.context();
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

}  // namespace
}  // namespace aioh
