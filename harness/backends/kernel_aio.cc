// Kernel AIO through raw syscall(2): io_setup, io_destroy, io_submit,
// io_getevents, io_pgetevents, io_cancel. Every call is checked against the
// raw-syscall convention (-1 and errno; anything else negative, or errno
// changed on success, is a breach) and turned into an Outcome.
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

#include "convention.h"
#include "kernel_aio_backend.h"

namespace aioh {

Outcome KernelAioBackend::raw_setup(long nr_events, AioContext* ctxp) {
  arm_errno();
  long r = syscall(SYS_io_setup, nr_events, ctxp);
  return from_minus1_errno(r, errno, Phase::setup, conv_, "io_setup");
}

Outcome KernelAioBackend::raw_destroy(AioContext ctx) {
  arm_errno();
  long r = syscall(SYS_io_destroy, ctx);
  return from_minus1_errno(r, errno, Phase::teardown, conv_, "io_destroy");
}

Outcome KernelAioBackend::raw_submit(AioContext ctx, long nr, KIocb** iocbs) {
  arm_errno();
  long r = syscall(SYS_io_submit, ctx, nr, iocbs);
  return from_minus1_errno(r, errno, Phase::submit, conv_, "io_submit");
}

Outcome KernelAioBackend::raw_getevents(AioContext ctx, long min_nr, long nr,
                                        KIoEvent* events, timespec* timeout) {
  arm_errno();
  long r = syscall(SYS_io_getevents, ctx, min_nr, nr, events, timeout);
  return from_minus1_errno(r, errno, Phase::wait, conv_, "io_getevents");
}

Outcome KernelAioBackend::raw_pgetevents_sized(AioContext ctx, long min_nr,
                                               long nr, KIoEvent* events,
                                               timespec* timeout,
                                               const sigset_t* sigmask,
                                               size_t sigsetsize) {
  // include/uapi/linux/aio_abi.h struct __aio_sigset.
  struct {
    const sigset_t* sigmask;
    size_t sigsetsize;
  } usig{sigmask, sigsetsize};
  return raw_pgetevents_usig(ctx, min_nr, nr, events, timeout,
                             sigmask ? &usig : nullptr);
}

Outcome KernelAioBackend::raw_pgetevents_usig(AioContext ctx, long min_nr,
                                              long nr, KIoEvent* events,
                                              timespec* timeout,
                                              const void* usig) {
  arm_errno();
  long r = syscall(SYS_io_pgetevents, ctx, min_nr, nr, events, timeout, usig);
  return from_minus1_errno(r, errno, Phase::wait, conv_, "io_pgetevents");
}

Outcome KernelAioBackend::raw_pgetevents(AioContext ctx, long min_nr, long nr,
                                         KIoEvent* events, timespec* timeout,
                                         const sigset_t* sigmask) {
  // The kernel's sigset is _NSIG bits, not glibc's 1024-bit sigset_t.
  return raw_pgetevents_sized(ctx, min_nr, nr, events, timeout, sigmask,
                              _NSIG / 8);
}

Outcome KernelAioBackend::raw_cancel(AioContext ctx, KIocb* iocb,
                                     KIoEvent* ev) {
  arm_errno();
  long r = syscall(SYS_io_cancel, ctx, iocb, ev);
  return from_minus1_errno(r, errno, Phase::cancel, conv_, "io_cancel");
}

// Available when the probe's io_setup/io_destroy round trip worked (probe.cc).
AIOH_BACKEND("kernel-aio", .order = 20, .make = make_as<KernelAioBackend>, .available = [](const Environment& env) {
  return InterfaceAvailability{env.flag("kernel_aio"), env.note("kernel_aio_reason")};
});

}  // namespace aioh
