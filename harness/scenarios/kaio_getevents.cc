// io_getevents(2) and io_pgetevents(2) on kernel AIO and libaio: argument
// checks (min_nr > nr, negative counts, a bad, zero or destroyed context,
// NULL events, the all-NULL call) and their order (the timeout and the
// signal set are copied in before the context is looked up), the timeout
// forms (zero, NULL, short with fewer than min_nr ready, negative, tv_nsec
// out of range, which fs/aio.c never validates), interruption by a signal
// (EINTR, never restarted even with SA_RESTART: signal(7)), and io_pgetevents'
// struct __aio_sigset (a NULL set, a NULL mask in it, bad pointers, a wrong
// size, a masked signal that does not interrupt the wait and is delivered
// once the old mask is back). Every wait's elapsed time is observed with it
// and checked for promptness (wait_timing.h): at once when min_nr was met or
// the call failed, else no earlier than its timeout and within the slack.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "backends/kernel_aio_backend.h"
#include "kaio_util.h"
#include "pattern.h"
#include "wait_timing.h"
#include "timespec.h"

namespace aioh {
namespace {

using kaio::aio;

// Queues `ready` completed buffered reads (they complete inside io_submit).
void queue_ready(CaseContext& ctx, AioBackendBase& be, int fd, void* buf, long ready) {
  for (long i = 0; i < ready; ++i) {
    Request r;
    r.op = Op::read;
    r.fd = fd;
    r.buf = buf;
    r.len = 512;
    r.tag = static_cast<uint64_t>(i);
    Outcome s = be.submit({&r});
    if (s.is_error || s.value != 1) ctx.broken("cannot queue a completion: " + s.str());
  }
}

// The context a row names, with what it needs kept alive.
struct CtxChoice {
  AioContext c = 0;
  void* page = MAP_FAILED;
  ~CtxChoice() {
    if (page != MAP_FAILED) munmap(page, 4096);
  }
};

void choose_ctx(CaseContext& ctx, AioBackendBase& be, CtxChoice& out) {
  const std::string which = ctx.str("ctx");
  out.c = be.context();
  if (which == "bad") out.c = 0x1000;  // page 1: never an aio ring
  if (which == "zero") out.c = 0;
  if (which == "readable") {
    // Readable memory that is not an aio ring (no AIO_RING_MAGIC).
    out.page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (out.page == MAP_FAILED) ctx.broken("mmap failed");
    out.c = reinterpret_cast<AioContext>(out.page);
  }
  if (which == "destroyed") {
    if (be.raw_destroy(out.c).is_error) ctx.broken("io_destroy failed");
    be.forget_context();
  }
}

// The timeout a row names and the wait it implies in ms (-1: none).
timespec timeout_of(const std::string& t, double* ms) {
  static const std::map<std::string, std::pair<timespec, double>> forms = {
      {"zero", {{0, 0}, 0}},
      {"short", {{0, 10 * 1000000L}, 10}},
      {"negative", {{-1, 0}, -1}},
      {"bad_nsec", {{0, -1}, -1}},
      // tv_nsec = 1.5e9 is not rejected: timespec64_to_ktime() makes it 1.5 s.
      {"over_nsec", {{0, 1500000000L}, 1500}},
      {"null", {{0, 0}, -1}}};
  auto& f = forms.at(t);
  *ms = f.second;
  return f.first;
}

// Observes a wait with its time: until the signal when one was sent, at once
// when it failed or min_nr was met, else its whole timeout.
void observe_timed(CaseContext& ctx, const Outcome& o, double took, long min_nr, double timeout_ms,
                   long interrupt_ms) {
  if (interrupt_ms > 0)
    timing::observe_wait_between(ctx, o, took, static_cast<double>(interrupt_ms),
                                 static_cast<double>(interrupt_ms), "a wait ended by a signal");
  else
    timing::observe_wait(ctx, o, took, timeout_ms, o.is_error || o.value >= min_nr);
}

AIOH_SCENARIO(kaio_getevents_args,
              aioh::param::integer("min_nr", 1, "min_nr"),
              aioh::param::integer("nr", 1, "nr"),
              aioh::param::choice("timeout", "zero", {"zero", "null", "short", "negative", "bad_nsec", "over_nsec"}, "the timeout"),
              aioh::param::integer("ready", 0, "completions queued first", 0, 64),
              aioh::param::choice("ctx", "ok", {"ok", "bad", "destroyed", "readable", "zero"}, "the context"),
              aioh::param::choice("events", "ok", {"ok", "null"}, "the events array"),
              aioh::param::boolean("reap_after", false, "then reap with a good array (zero timeout) and observe the count"),
              aioh::param::integer("interrupt_ms", 0, "SIGALRM after this many ms", 0, 10000),
              aioh::param::boolean("sa_restart", false, "the handler has SA_RESTART")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  queue_ready(ctx, be, fd, buf.data(), ctx.num("ready"));
  CtxChoice c;
  choose_ctx(ctx, be, c);
  double timeout_ms = 0;
  timespec ts = timeout_of(ctx.str("timeout"), &timeout_ms);
  const long nr = ctx.num("nr");
  std::vector<KIoEvent> evs(nr > 0 ? static_cast<size_t>(nr) : 1);
  const long interrupt_ms = ctx.num("interrupt_ms");
  std::optional<kaio::SignalTimer> timer;
  timing::Stopwatch sw;  // from the timer's arming: the signal comes interrupt_ms after it
  if (interrupt_ms > 0) {
    timer.emplace(interrupt_ms, ctx.flag("sa_restart"));
    if (!timer->ok()) ctx.broken("cannot arm the signal timer");
  }
  Outcome o = be.raw_getevents(c.c, ctx.num("min_nr"), nr, ctx.str("events") == "null" ? nullptr : evs.data(),
                               ctx.str("timeout") == "null" ? nullptr : &ts);
  observe_timed(ctx, o, sw.ms(), ctx.num("min_nr"), timeout_ms, interrupt_ms);
  if (interrupt_ms > 0) ctx.check(kaio::SignalTimer::fired.load() >= 1, "the timer signal never arrived");
  if (ctx.flag("reap_after")) {
    // Events a failed copy-out left in the ring are still there.
    timespec zero{0, 0};
    ctx.observe(be.raw_getevents(be.context(), 0, nr, evs.data(), &zero));
  }
  close(fd);
}

// io_pgetevents with SIGALRM arriving mid-wait. Params: mask_alrm (the
// call's sigmask blocks SIGALRM), interrupt_ms, timeout_ms.
AIOH_SCENARIO(kaio_pgetevents_mask,
              aioh::param::boolean("mask_alrm", false, "the call's sigmask blocks SIGALRM"),
              aioh::param::integer("interrupt_ms", 50, "SIGALRM after this many ms", 1, 10000),
              aioh::param::integer("timeout_ms", 300, "the wait's timeout", 0, 10000)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  if (ctx.flag("mask_alrm")) sigaddset(&mask, SIGALRM);
  const long timeout_ms = ctx.num("timeout_ms");
  timespec ts = ms_to_timespec(timeout_ms);
  KIoEvent ev;
  timing::Stopwatch sw;  // from the timer's arming, as the signal's time is
  kaio::SignalTimer timer(ctx.num("interrupt_ms"));
  if (!timer.ok()) ctx.broken("cannot arm the signal timer");
  Outcome o = be.raw_pgetevents(be.context(), 1, 1, &ev, &ts, &mask);
  const double took = sw.ms();
  // Masked: the wait runs out its timeout; unmasked: the signal ends it.
  if (ctx.flag("mask_alrm")) timing::observe_wait(ctx, o, took, static_cast<double>(timeout_ms), false);
  else observe_timed(ctx, o, took, 1, -1, ctx.num("interrupt_ms"));
  // Masked or not, the signal is delivered: during the call, or as soon as
  // the caller's mask is back (fs/aio.c restore_saved_sigmask_unless()).
  ctx.check(kaio::SignalTimer::fired.load() == 1,
            "SIGALRM handler ran " + std::to_string(kaio::SignalTimer::fired.load()) + " times, expected once");
}

// io_pgetevents' own arguments. usig (kernel AIO only: libaio builds the
// struct itself from its sigmask argument): null (no struct), ok, unmapped,
// mask_null (a struct whose sigmask is NULL); sigmask: ok or unmapped;
// sigsetsize: the struct's size field.
AIOH_SCENARIO(kaio_pgetevents_args,
              aioh::param::choice("usig", "ok", {"null", "ok", "unmapped", "mask_null"}, "the struct __aio_sigset pointer"),
              aioh::param::choice("sigmask", "ok", {"ok", "unmapped"}, "the sigset_t pointer in it"),
              aioh::param::integer("sigsetsize", 8, "its sigsetsize", 0, 1024),
              aioh::param::integer("min_nr", 1, "min_nr"),
              aioh::param::integer("nr", 1, "nr"),
              aioh::param::choice("timeout", "short", {"zero", "short", "unmapped"}, "the timeout"),
              aioh::param::choice("ctx", "ok", {"ok", "bad"}, "the context")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  kaio::FaultPage fault;
  const sigset_t* m = ctx.str("sigmask") == "unmapped" ? static_cast<const sigset_t*>(fault.get()) : &mask;
  double timeout_ms = 0;
  timespec ts = timeout_of(ctx.str("timeout") == "unmapped" ? "zero" : ctx.str("timeout"), &timeout_ms);
  timespec* tsp = ctx.str("timeout") == "unmapped" ? static_cast<timespec*>(fault.get()) : &ts;
  const AioContext c = ctx.str("ctx") == "bad" ? AioContext{0x1000} : be.context();
  const long min_nr = ctx.num("min_nr"), nr = ctx.num("nr");
  KIoEvent ev[4];
  const std::string usig = ctx.str("usig");
  timing::Stopwatch sw;
  Outcome o;
  if (auto* k = dynamic_cast<KernelAioBackend*>(&be)) {
    struct {
      const sigset_t* sigmask;
      size_t sigsetsize;
    } s{usig == "mask_null" ? nullptr : m, static_cast<size_t>(ctx.num("sigsetsize"))};
    const void* p = usig == "null" ? nullptr : usig == "unmapped" ? fault.get() : static_cast<const void*>(&s);
    o = k->raw_pgetevents_usig(c, min_nr, nr, ev, tsp, p);
  } else {
    if (usig != "ok" && usig != "null") ctx.broken("libaio builds struct __aio_sigset itself: usig must be ok or null");
    o = be.raw_pgetevents(c, min_nr, nr, ev, tsp, usig == "null" ? nullptr : m);
  }
  observe_timed(ctx, o, sw.ms(), min_nr, timeout_ms, 0);
}

// io_pgetevents with a struct __aio_sigset whose sigsetsize is not the
// kernel's sigset size (kernel AIO only: libaio always passes _NSIG/8).
AIOH_SCENARIO(kaio_pgetevents_sigsetsize,
              aioh::param::integer("sigsetsize", 4, "the struct's sigsetsize", 0, 1024)) {
  auto* be = dynamic_cast<KernelAioBackend*>(&ctx.backend());
  if (!be) ctx.broken("scenario needs the kernel-aio backend");
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  KIoEvent ev;
  timespec zero{0, 0};
  ctx.observe(be->raw_pgetevents_sized(be->context(), 1, 1, &ev, &zero, &mask,
                                       static_cast<size_t>(ctx.num("sigsetsize"))));
}

}  // namespace
}  // namespace aioh
