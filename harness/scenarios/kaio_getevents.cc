// io_getevents(2) and io_pgetevents(2) on kernel AIO and libaio: argument
// checks (min_nr > nr, negative counts, a bad or destroyed context), the
// timeout forms (zero, NULL, short with fewer than min_nr ready, negative),
// interruption by a signal (EINTR, never restarted even with SA_RESTART:
// signal(7)), and io_pgetevents' signal mask (a masked signal does not
// interrupt the wait; it is delivered once the old mask is back).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "backends/kernel_aio_backend.h"
#include "kaio_util.h"
#include "pattern.h"

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

AIOH_SCENARIO(kaio_getevents_args,
              aioh::param::integer("min_nr", 1, "io_getevents' min_nr", INT32_MIN, INT32_MAX),
              aioh::param::integer("nr", 1, "io_getevents' nr (the event array holds max(nr, 1))", INT32_MIN, 4096),
              aioh::param::choice("timeout", "zero", {"zero", "null", "short", "negative", "bad_nsec"},
                                  "the timeout: {0,0}, NULL, 10 ms, {-1,0}, {0,-1}"),
              aioh::param::integer("ready", 0, "completed reads queued before the call", 0, 64),
              aioh::param::choice("ctx", "ok", {"ok", "bad", "destroyed", "readable"},
                                  "the context: ours, never one, destroyed, readable memory that is no ring"),
              aioh::param::integer("interrupt_ms", 0, "a SIGALRM this long into the call (0: none)", 0,
                                   aioh::param::kMaxMs),
              aioh::param::boolean("sa_restart", false, "install the SIGALRM handler with SA_RESTART")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  queue_ready(ctx, be, fd, buf.data(), ctx.num("ready"));

  AioContext c = be.context();
  const std::string which = ctx.str("ctx");
  void* page = MAP_FAILED;
  if (which == "bad") c = 0x1000;
  if (which == "readable") {
    // Readable memory that is not an aio ring (no AIO_RING_MAGIC).
    page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) ctx.broken("mmap failed");
    c = reinterpret_cast<AioContext>(page);
  }
  if (which == "destroyed") {
    if (be.raw_destroy(c).is_error) ctx.broken("io_destroy failed");
    be.forget_context();
  }

  const std::string t = ctx.str("timeout");
  timespec ts{0, 0};
  if (t == "short") ts = {0, 10 * 1000000L};
  if (t == "negative") ts = {-1, 0};
  if (t == "bad_nsec") ts = {0, -1};
  const long nr = ctx.num("nr");
  std::vector<KIoEvent> evs(nr > 0 ? static_cast<size_t>(nr) : 1);

  const long interrupt_ms = ctx.num("interrupt_ms");
  std::optional<kaio::SignalTimer> timer;
  if (interrupt_ms > 0) {
    timer.emplace(interrupt_ms, ctx.flag("sa_restart"));
    if (!timer->ok()) ctx.broken("cannot arm the signal timer");
  }
  const timespec t0 = kaio::now_mono();
  Outcome o = be.raw_getevents(c, ctx.num("min_nr"), nr, evs.data(),
                               t == "null" ? nullptr : &ts);
  const long took = kaio::elapsed_ms(t0, kaio::now_mono());
  ctx.observe(o);
  if (interrupt_ms > 0) {
    ctx.check(kaio::SignalTimer::fired.load() >= 1, "the timer signal never arrived");
    // It waited for the signal rather than returning at once.
    ctx.check(took + 5 >= interrupt_ms,
              "returned after " + std::to_string(took) + " ms, before the signal");
  }
  if (page != MAP_FAILED) munmap(page, 4096);
  close(fd);
}

// io_pgetevents with SIGALRM arriving mid-wait.
AIOH_SCENARIO(kaio_pgetevents_mask,
              aioh::param::boolean("mask_alrm", false, "the call's sigmask blocks SIGALRM"),
              aioh::param::integer("interrupt_ms", 50, "when SIGALRM arrives", 1, aioh::param::kMaxMs),
              aioh::param::integer("timeout_ms", 300, "the call's timeout", 0, aioh::param::kMaxMs)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  if (ctx.flag("mask_alrm")) sigaddset(&mask, SIGALRM);
  const long timeout_ms = ctx.num("timeout_ms");
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  KIoEvent ev;
  kaio::SignalTimer timer(ctx.num("interrupt_ms"));
  if (!timer.ok()) ctx.broken("cannot arm the signal timer");
  const timespec t0 = kaio::now_mono();
  Outcome o = be.raw_pgetevents(be.context(), 1, 1, &ev, &ts, &mask);
  const long took = kaio::elapsed_ms(t0, kaio::now_mono());
  ctx.observe(o);
  // Masked or not, the signal is delivered: during the call, or as soon as
  // the caller's mask is back (fs/aio.c restore_saved_sigmask_unless()).
  ctx.check(kaio::SignalTimer::fired.load() == 1,
            "SIGALRM handler ran " + std::to_string(kaio::SignalTimer::fired.load()) +
                " times, expected once");
  if (ctx.flag("mask_alrm"))
    ctx.check(took + 5 >= timeout_ms,
              "returned after " + std::to_string(took) + " ms, before its timeout");
}

// io_pgetevents with a struct __aio_sigset whose sigsetsize is not the
// kernel's sigset size (kernel AIO only: libaio always passes _NSIG/8).
AIOH_SCENARIO(kaio_pgetevents_sigsetsize,
              aioh::param::integer("sigsetsize", 4, "the struct __aio_sigset's sigsetsize", 0, 1 << 16)) {
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
