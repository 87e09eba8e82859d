// Library facts: what the liburing and libaio this process really loaded do,
// observed rather than read from a version string, so that a row whose
// expectation depends on library behaviour (a setup retried inside the
// library, a wait answered from the ring without a system call) keys on the
// behaviour. Each observation runs in a forked child that installs a seccomp
// SECCOMP_RET_TRAP filter (seccomp(2)): every io_uring_setup/io_uring_enter/
// io_getevents/io_pgetevents then raises SIGSYS instead of entering the
// kernel, the handler counts the call, notes its arguments and makes it
// return -EINVAL (setup) or -EPERM, so the count is the number of system
// calls the library made for one library call. Sources: liburing src/setup.c
// (newer releases first ask for IORING_SETUP_NO_SQARRAY and retry without it
// on EINVAL: 2.9 and 2.15 do, 2.3 does not), src/queue.c _io_uring_get_cqe()
// (no io_uring_enter when a CQE is ready or nothing needs the kernel); libaio
// src/io_getevents.c and
// src/aio_ring.h aio_ring_is_empty() (a zero timeout on an empty ring is
// answered from the user-mapped ring).
#include <dlfcn.h>
#include <fcntl.h>
#include <libaio.h>
#include <liburing.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "probe.h"

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

namespace aioh {
namespace {

// What a child reports back; -1 = not observed.
struct LibObservation {
  int setup_calls = -1;          // io_uring_setup calls for one refused io_uring_queue_init_params
  int64_t setup_first_flags = -1;  // the flags of the first of them
  int wait_enters = -1;          // io_uring_enter calls of io_uring_wait_cqes with a CQE ready
  int peek_enters = -1;          // ... of io_uring_peek_cqe on an empty ring
  int peek_ret = 0;
  int getevents_calls = -1;      // io_getevents calls of a zero-timeout poll of an empty ring
  int pgetevents_calls = -1;
  int ready_nr = -1;             // the syscall io_getevents made to wait for a completed read
  char error[160] = {};
};

volatile sig_atomic_t g_traps = 0;
volatile int64_t g_first_flags = -1;
volatile int g_last_nr = -1;
volatile int g_trap_errno = EINVAL;

// The trapped call does not run: the handler sets the return register.
void on_sigsys(int, siginfo_t* si, void* uc_void) {
  auto* uc = static_cast<ucontext_t*>(uc_void);
  // Only io_uring_setup's second argument is an io_uring_params pointer.
  const bool setup = si->si_syscall == __NR_io_uring_setup;
#if defined(__x86_64__)
  if (setup && g_traps == 0 && uc->uc_mcontext.gregs[REG_RSI] != 0)
    g_first_flags = reinterpret_cast<io_uring_params*>(uc->uc_mcontext.gregs[REG_RSI])->flags;
  uc->uc_mcontext.gregs[REG_RAX] = -g_trap_errno;
#elif defined(__aarch64__)
  if (setup && g_traps == 0 && uc->uc_mcontext.regs[1] != 0)
    g_first_flags = reinterpret_cast<io_uring_params*>(uc->uc_mcontext.regs[1])->flags;
  uc->uc_mcontext.regs[0] = -g_trap_errno;
#else
  (void)uc;
  (void)setup;
#endif
  g_last_nr = si->si_syscall;
  g_traps = g_traps + 1;
}

bool trap(std::initializer_list<int> syscalls, LibObservation& o) {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSYS, &sa, nullptr);
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
  bool ok = f != nullptr;
  for (int nr : syscalls) ok = ok && seccomp_rule_add(f, SCMP_ACT_TRAP, nr, 0) == 0;
  ok = ok && seccomp_load(f) == 0;
  if (f) seccomp_release(f);
  if (!ok) snprintf(o.error, sizeof o.error, "cannot load a SECCOMP_RET_TRAP filter");
  return ok;
}

// One child per library: a trap filter cannot be removed once loaded.
void observe_liburing(LibObservation& o) {
#if !defined(__x86_64__) && !defined(__aarch64__)
  snprintf(o.error, sizeof o.error, "no SIGSYS register access on this architecture");
  return;
#endif
  // A ring with one completion ready, made before the filter.
  io_uring ring{};
  bool have_ring = io_uring_queue_init(4, &ring, 0) == 0;
  if (have_ring) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    have_ring = io_uring_submit_and_wait(&ring, 1) == 1;
  }
  if (!trap({__NR_io_uring_setup, __NR_io_uring_enter}, o)) return;

  g_trap_errno = EINVAL;
  g_traps = 0;
  io_uring other{};
  io_uring_params p{};
  int ret = io_uring_queue_init_params(4, &other, &p);
  o.setup_calls = ret == 0 ? -1 : static_cast<int>(g_traps);
  o.setup_first_flags = g_first_flags;
  if (ret == 0) snprintf(o.error, sizeof o.error, "io_uring_queue_init_params succeeded past a trapped io_uring_setup");

  if (!have_ring) return;  // no io_uring here: the ring facts stay unobserved
  g_trap_errno = EPERM;
  g_traps = 0;
  io_uring_cqe* cqe = nullptr;
  ret = io_uring_wait_cqes(&ring, &cqe, 1, nullptr, nullptr);
  if (ret == 0 && cqe) {
    o.wait_enters = static_cast<int>(g_traps);
    io_uring_cqe_seen(&ring, cqe);
    g_traps = 0;
    o.peek_ret = io_uring_peek_cqe(&ring, &cqe);
    o.peek_enters = static_cast<int>(g_traps);
  } else if (g_traps > 0) {
    o.wait_enters = static_cast<int>(g_traps);  // it entered the kernel and got the trap's EPERM
  }
}

void observe_libaio(LibObservation& o) {
  io_context_t ctx = nullptr;
  if (io_setup(4, &ctx) != 0) {
    snprintf(o.error, sizeof o.error, "io_setup failed: kernel AIO unavailable");
    return;
  }
  if (!trap({__NR_io_getevents, __NR_io_pgetevents}, o)) return;
  g_trap_errno = EPERM;
  io_event ev[1];
  timespec zero{0, 0};
  g_traps = 0;
  io_getevents(ctx, 1, 1, ev, &zero);
  o.getevents_calls = static_cast<int>(g_traps);
  sigset_t mask;
  sigemptyset(&mask);
  g_traps = 0;
  io_pgetevents(ctx, 1, 1, ev, &zero, &mask);
  o.pgetevents_calls = static_cast<int>(g_traps);

  // Which syscall a real wait enters: Debian's libaio1t64 implements
  // io_getevents with io_pgetevents (falling back on ENOSYS), so a fault on
  // io_getevents never reaches it. A buffered read of a regular file
  // completes inside io_submit; the trap's EPERM ends the wait at once.
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  alignas(512) static char buf[512];
  iocb cb{};
  iocb* cbs[1] = {&cb};
  if (fd < 0) return;
  io_prep_pread(&cb, fd, buf, sizeof buf, 0);
  if (io_submit(ctx, 1, cbs) != 1) return;
  timespec second{1, 0};
  g_last_nr = -1;
  io_getevents(ctx, 1, 1, ev, &second);
  o.ready_nr = g_last_nr;
}

LibObservation in_child(void (*fn)(LibObservation&)) {
  LibObservation o;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    snprintf(o.error, sizeof o.error, "pipe failed");
    return o;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    fn(o);
    (void)!write(p[1], &o, sizeof o);
    _exit(0);
  }
  close(p[1]);
  ssize_t n;
  do n = read(p[0], &o, sizeof o);
  while (n < 0 && errno == EINTR);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (n != static_cast<ssize_t>(sizeof o)) {
    o = LibObservation{};
    snprintf(o.error, sizeof o.error, "%s",
             WIFSIGNALED(st) ? fmt::format("probe child killed by signal {}", WTERMSIG(st)).c_str()
                             : "probe child wrote no result");
  }
  return o;
}

}  // namespace

void probe_libraries(Environment& env) {
  // Informational only: 2.2+ exports its version; older builds are named by their file.
  using VersionFn = int (*)();
  auto major = reinterpret_cast<VersionFn>(dlsym(RTLD_DEFAULT, "io_uring_major_version"));
  auto minor = reinterpret_cast<VersionFn>(dlsym(RTLD_DEFAULT, "io_uring_minor_version"));
  env.info["liburing.version"] = major && minor ? fmt::format("{}.{}", major(), minor())
                                                : "not exported by this build";

  LibObservation u = in_child(observe_liburing);
  if (u.setup_calls >= 1) {
    env.facts["liburing.setup_attempts"] = static_cast<int64_t>(u.setup_calls);
    env.facts["liburing.setup_retry"] = u.setup_calls > 1;
    env.facts["liburing.setup_no_sqarray"] =
        u.setup_first_flags >= 0 && (u.setup_first_flags & IORING_SETUP_NO_SQARRAY) != 0;
  }
  if (u.wait_enters >= 0) env.facts["liburing.wait_userspace"] = u.wait_enters == 0;
  if (u.peek_enters >= 0)
    env.facts["liburing.peek_userspace"] = u.peek_enters == 0 && u.peek_ret == -EAGAIN;
  if (u.error[0]) env.info["liburing.probe"] = u.error;

  LibObservation a = in_child(observe_libaio);
  if (a.getevents_calls >= 0) env.facts["libaio.getevents_userspace"] = a.getevents_calls == 0;
  if (a.pgetevents_calls >= 0) env.facts["libaio.pgetevents_userspace"] = a.pgetevents_calls == 0;
  if (a.ready_nr >= 0) env.facts["libaio.getevents_via_pgetevents"] = a.ready_nr == __NR_io_pgetevents;
  if (a.error[0]) env.info["libaio.probe"] = a.error;
}

}  // namespace aioh
