// libaio as its users call it. Our KIocb/KIoEvent have the kernel ABI layout,
// which is also libaio's struct iocb / struct io_event on 64-bit Linux
// (checked below), so the same control blocks go through both backends and
// any difference in outcome is libaio's own doing.
#include <libaio.h>

#include "convention.h"
#include "libaio_backend.h"

namespace aioh {

static_assert(sizeof(struct iocb) == sizeof(KIocb));
static_assert(sizeof(struct io_event) == sizeof(KIoEvent));
static_assert(sizeof(io_context_t) == sizeof(AioContext));

namespace {
io_context_t lctx(AioContext c) { return reinterpret_cast<io_context_t>(c); }
struct iocb* liocb(KIocb* cb) { return reinterpret_cast<struct iocb*>(cb); }
struct io_event* levent(KIoEvent* e) {
  return reinterpret_cast<struct io_event*>(e);
}
}  // namespace

Outcome LibaioBackend::raw_setup(long nr_events, AioContext* ctxp) {
  arm_errno();
  // libaio takes an int: the kernel receives the same 32 bits.
  int r = io_setup(static_cast<int>(nr_events),
                   reinterpret_cast<io_context_t*>(ctxp));
  return from_neg_errno(r, errno, Phase::setup, conv_, "io_setup");
}

Outcome LibaioBackend::raw_destroy(AioContext ctx) {
  arm_errno();
  int r = io_destroy(lctx(ctx));
  return from_neg_errno(r, errno, Phase::teardown, conv_, "io_destroy");
}

Outcome LibaioBackend::raw_submit(AioContext ctx, long nr, KIocb** iocbs) {
  arm_errno();
  int r = io_submit(lctx(ctx), nr, reinterpret_cast<struct iocb**>(iocbs));
  return from_neg_errno(r, errno, Phase::submit, conv_, "io_submit");
}

Outcome LibaioBackend::raw_getevents(AioContext ctx, long min_nr, long nr,
                                     KIoEvent* events, timespec* timeout) {
  arm_errno();
  int r = io_getevents(lctx(ctx), min_nr, nr, levent(events), timeout);
  return from_neg_errno(r, errno, Phase::wait, conv_, "io_getevents");
}

Outcome LibaioBackend::raw_pgetevents(AioContext ctx, long min_nr, long nr,
                                      KIoEvent* events, timespec* timeout,
                                      const sigset_t* sigmask) {
  arm_errno();
  int r = io_pgetevents(lctx(ctx), min_nr, nr, levent(events), timeout,
                        const_cast<sigset_t*>(sigmask));
  return from_neg_errno(r, errno, Phase::wait, conv_, "io_pgetevents");
}

Outcome LibaioBackend::raw_cancel(AioContext ctx, KIocb* iocb, KIoEvent* ev) {
  arm_errno();
  int r = io_cancel(lctx(ctx), liocb(iocb), levent(ev));
  return from_neg_errno(r, errno, Phase::cancel, conv_, "io_cancel");
}

// libaio is a thin wrapper of the same syscalls: available with kernel AIO.
AIOH_BACKEND("libaio", .order = 30, .make = make_as<LibaioBackend>, .available = [](const Environment& env) {
  return InterfaceAvailability{env.flag("kernel_aio"), env.note("kernel_aio_reason")};
});

}  // namespace aioh
