// What libaio answers without entering the kernel, and what that costs.
// libaio's io_getevents/io_pgetevents (src/aio_ring.h aio_ring_is_empty())
// read the completion ring at the context address: with a zero timeout and
// an empty ring they return 0 on their own. A seccomp filter that fails the
// io_getevents system call with EPERM proves it (kernel AIO sees EPERM,
// libaio 0), and shows libaio skipping the kernel's argument checks too.
// The same read makes a garbage or destroyed context a SIGSEGV inside libaio
// where the kernel answers EINVAL; that call runs in a forked child.
#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "kaio_util.h"

namespace aioh {
namespace {

using kaio::aio;

AIOH_SCENARIO(kaio_seccomp_getevents,
              aioh::param::choice("call", "getevents", {"getevents", "pgetevents"}, "the call"),
              aioh::param::integer("min_nr", 1, "min_nr"),
              aioh::param::integer("nr", 1, "nr", 0, 4),
              aioh::param::choice("timeout", "zero", {"zero", "short"}, "zero or 1 ms"),
              aioh::param::integer("ready", 0, "completions queued first", 0, 64)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  const long ready = ctx.num("ready");
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  if (fd < 0) ctx.broken("cannot open scratch file");
  char buf[512];
  for (long i = 0; i < ready; ++i) {
    Request r;
    r.op = Op::read;
    r.fd = fd;
    r.buf = buf;
    r.len = sizeof buf;
    r.tag = static_cast<uint64_t>(i);
    if (be.submit({&r}).is_error) ctx.broken("cannot queue a completion");
  }
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
  if (!f) ctx.broken("seccomp_init failed");
  bool ok = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_getevents), 0) == 0 &&
            seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_pgetevents), 0) == 0 &&
            seccomp_load(f) == 0;
  seccomp_release(f);
  if (!ok) ctx.broken("cannot load the seccomp filter");
  timespec ts{0, ctx.str("timeout") == "short" ? 1000000L : 0};
  KIoEvent ev[4];
  if (ctx.str("call") == "pgetevents") {
    sigset_t mask;
    sigemptyset(&mask);
    ctx.observe(be.raw_pgetevents(be.context(), ctx.num("min_nr"), ctx.num("nr"), ev, &ts, &mask));
  } else {
    ctx.observe(be.raw_getevents(be.context(), ctx.num("min_nr"), ctx.num("nr"), ev, &ts));
  }
  close(fd);
}

// io_getevents/io_pgetevents with a context or timeout libaio reads before
// the kernel can refuse it: ctx unmapped, destroyed or ok; timeout zero or
// unmapped. Runs in a child; a death by signal is observed as the signal's
// name (SIGSEGV).
AIOH_SCENARIO(kaio_getevents_garbage_ctx,
              aioh::param::choice("ctx", "unmapped", {"unmapped", "destroyed", "ok"}, "the context"),
              aioh::param::choice("timeout", "zero", {"zero", "unmapped"}, "the timeout pointer"),
              aioh::param::choice("call", "getevents", {"getevents", "pgetevents"}, "the call")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  AioContext c = be.context();
  kaio::FaultPage fault;
  if (ctx.str("ctx") == "unmapped") {
    c = reinterpret_cast<AioContext>(fault.get());
  } else if (ctx.str("ctx") == "destroyed") {
    if (be.raw_destroy(c).is_error) ctx.broken("io_destroy failed");
    be.forget_context();
  }
  timespec zero{0, 0};
  timespec* tsp = ctx.str("timeout") == "unmapped" ? static_cast<timespec*>(fault.get()) : &zero;
  const bool pget = ctx.str("call") == "pgetevents";
  int sig = 0;
  auto o = scn::outcome_in_child([&] {
    KIoEvent ev;
    sigset_t mask;
    sigemptyset(&mask);
    return pget ? be.raw_pgetevents(c, 1, 1, &ev, tsp, &mask) : be.raw_getevents(c, 1, 1, &ev, tsp);
  }, Phase::wait, &sig);
  if (sig) ctx.note("io_getevents killed the process with signal " + std::to_string(sig));
  if (!o) ctx.broken("child neither answered nor died of a signal");
  ctx.observe(*o);
}

}  // namespace
}  // namespace aioh
