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

// Params: min_nr, nr, timeout (zero null short negative bad_nsec), ready,
// ctx (ok bad destroyed readable), interrupt_ms, sa_restart.
AIOH_SCENARIO(kaio_getevents_args) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  queue_ready(ctx, be, fd, buf.data(), ctx.num("ready", 0));

  AioContext c = be.context();
  const std::string which = ctx.str("ctx", "ok");
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

  const std::string t = ctx.str("timeout", "zero");
  timespec ts{0, 0};
  if (t == "short") ts = {0, 10 * 1000000L};
  if (t == "negative") ts = {-1, 0};
  if (t == "bad_nsec") ts = {0, -1};
  const long nr = ctx.num("nr", 1);
  std::vector<KIoEvent> evs(nr > 0 ? static_cast<size_t>(nr) : 1);

  const long interrupt_ms = ctx.num("interrupt_ms", 0);
  std::optional<kaio::SignalTimer> timer;
  if (interrupt_ms > 0) {
    timer.emplace(interrupt_ms, ctx.flag("sa_restart"));
    if (!timer->ok()) ctx.broken("cannot arm the signal timer");
  }
  const timespec t0 = kaio::now_mono();
  Outcome o = be.raw_getevents(c, ctx.num("min_nr", 1), nr, evs.data(),
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

// io_pgetevents with SIGALRM arriving mid-wait. Params: mask_alrm (the
// call's sigmask blocks SIGALRM), interrupt_ms, timeout_ms.
AIOH_SCENARIO(kaio_pgetevents_mask) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  if (ctx.flag("mask_alrm")) sigaddset(&mask, SIGALRM);
  const long timeout_ms = ctx.num("timeout_ms", 300);
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  KIoEvent ev;
  kaio::SignalTimer timer(ctx.num("interrupt_ms", 50));
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
AIOH_SCENARIO(kaio_pgetevents_sigsetsize) {
  auto* be = dynamic_cast<KernelAioBackend*>(&ctx.backend());
  if (!be) ctx.broken("scenario needs the kernel-aio backend");
  kaio::setup_or_broken(ctx);
  sigset_t mask;
  sigemptyset(&mask);
  KIoEvent ev;
  timespec zero{0, 0};
  ctx.observe(be->raw_pgetevents_sized(be->context(), 1, 1, &ev, &zero, &mask,
                                       static_cast<size_t>(ctx.num("sigsetsize", 4))));
}

}  // namespace
}  // namespace aioh
