// The EFAULT paths of the io_uring system calls: every user pointer they
// read or write, pointed at a page that is reserved PROT_NONE (so no other
// mapping can be there), and the order of that check against the others.
// io_uring_enter(2): the IORING_ENTER_EXT_ARG argument and its timespec,
// the plain sigmask; io_uring_register(2): a file array, an iovec array, the
// probe buffer; io_uring_setup(2): a params struct it may read but not write
// back (the ring is torn down again, no fd is left); a read into such a
// buffer fails in its CQE. Every wait is bounded by a SIGALRM, so a kernel
// that ignored a bad pointer shows as EINTR rather than a hang.
#include <signal.h>
#include <sys/mman.h>

#include "backends/io_uring_raw.h"
#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/kaio_util.h"  // SignalTimer

namespace aioh {
namespace {

using namespace uring;

// One PROT_NONE page, and one read-only page, for the life of a case.
struct BadPages {
  void* none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* ro = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bool ok() const { return none != MAP_FAILED && ro != MAP_FAILED; }
  ~BadPages() {
    if (none != MAP_FAILED) munmap(none, 4096);
    if (ro != MAP_FAILED) munmap(ro, 4096);
  }
};

// mode: ext-arg (the io_uring_getevents_arg itself unreadable) | ext-arg-ts
// (its ts) | sigmask (the plain sigmask of a GETEVENTS enter) | ext-arg-ts-ready
// (a bad ts while a CQE is already there) | register-files (the fd array) |
// register-buffers (the iovec array) | probe (IORING_REGISTER_PROBE's
// buffer) | setup-params-readonly (params readable, not writable: observes
// the setup and how many fds it left) | read-buffer (a READ into the page).
AIOH_SCENARIO(uring_bad_pointer,
              aioh::param::choice("mode", "ext-arg",
                                  {"ext-arg", "ext-arg-ts", "sigmask", "ext-arg-ts-ready", "register-files",
                                   "register-buffers", "probe", "setup-params-readonly", "read-buffer"},
                                  "which pointer is bad")) {
  const std::string mode = ctx.str("mode");
  BadPages bad;
  if (!bad.ok()) ctx.broken("mmap");
  if (mode == "setup-params-readonly") {
    backend(ctx);
    auto* p = static_cast<io_uring_params*>(bad.ro);
    *p = io_uring_params{};
    if (mprotect(bad.ro, 4096, PROT_READ) != 0) ctx.broken("mprotect");
    const int before = count_fds();
    long fd = rawring::setup(4, p);
    const int err = errno;
    if (fd >= 0) close(static_cast<int>(fd));
    ctx.observe(fd < 0 ? Outcome::error(err, Channel::errno_, Phase::setup) : Outcome::ok(0, Channel::ret, Phase::setup));
    // Descriptors the failed setup left behind (io_uring_create() tears the
    // ring down before it installs the fd).
    ctx.observe(Outcome::ok(fd < 0 ? count_fds() - before : 0, Channel::ret, Phase::setup));
    return;
  }
  IoUringBackend& be = up(ctx, 8);
  const unsigned ring_fd = static_cast<unsigned>(be.ring().ring_fd);
  if (mode == "register-files" || mode == "register-buffers" || mode == "probe") {
    const unsigned op = mode == "register-files" ? IORING_REGISTER_FILES
                        : mode == "register-buffers" ? IORING_REGISTER_BUFFERS
                                                     : IORING_REGISTER_PROBE;
    arm_errno();
    int r = io_uring_register(ring_fd, op, bad.none, 1);
    ctx.observe(be.liburing_ret(r, errno, Phase::setup, "io_uring_register"));
    return;
  }
  if (mode == "read-buffer") {
    int fd = ctx.scratch_file("efault", 8192, O_RDONLY | O_CLOEXEC);
    if (fd < 0) ctx.broken("scratch file");
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_read(s, fd, bad.none, 4096, 0); });
    observe_cqes(ctx, reap(ctx, be, 1));
    close(fd);
    return;
  }
  if (mode == "ext-arg-ts-ready") {
    submit_one(ctx, be, 1, [](io_uring_sqe* s) { io_uring_prep_nop(s); });
    io_uring_cqe* c = nullptr;  // waited for, left in the CQ ring
    __kernel_timespec ts = kms(1000);
    if (io_uring_wait_cqe_timeout(&be.ring(), &c, &ts) != 0 || io_uring_cq_ready(&be.ring()) != 1)
      ctx.broken("the NOP's CQE did not arrive");
  }
  io_uring_getevents_arg arg{};
  arg.sigmask_sz = _NSIG / 8;
  arg.ts = reinterpret_cast<uint64_t>(bad.none);
  const void* argp = mode == "ext-arg" ? bad.none : &arg;
  size_t argsz = sizeof arg;
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  if (mode == "sigmask") {
    argp = bad.none;
    argsz = _NSIG / 8;
    flags = IORING_ENTER_GETEVENTS;
  }
  // Nothing is pending (but for -ready's CQE): a wait that got past the bad
  // pointer would block, so a signal ends it after 2 s.
  kaio::SignalTimer alarm(2000);
  if (!alarm.ok()) ctx.broken("timer_create");
  arm_errno();
  int r = io_uring_enter2(ring_fd, 0, 1, flags, static_cast<sigset_t*>(const_cast<void*>(argp)), argsz);
  ctx.observe(be.liburing_ret(r, errno, Phase::wait, "io_uring_enter"));
}

}  // namespace
}  // namespace aioh
