// The syscall layer (libseccomp): a filter in the case's child sends each
// call of the target syscall to a user-notification supervisor, a thread
// created before the filter is loaded and therefore outside it. The
// supervisor asks libfiu (the row's seeded trigger) per call and either
// fails the call with the row's errno or lets it CONTINUE into the kernel, and
// counts what it did. Threads created after the filter inherit it, so this
// reaches glibc's AIO worker threads (pread64, pwrite64, fsync, clone3),
// which an LD_PRELOAD cannot. io_uring requests never pass through seccomp:
// only io_uring_setup/enter/register do (seccomp(2), "SECCOMP_RET_USER_NOTIF";
// seccomp_unotify(2)). Effect SIGSYS is Android's answer instead: the filter
// TRAPs the call, the kernel sends SIGSYS (si_code SYS_SECCOMP), a handler
// counts it and lets the default action kill the process. A target may name
// alternatives ("io_getevents|io_pgetevents"): a library call that makes one
// or the other, depending on the build (Debian's libaio1t64 waits through
// io_pgetevents); the readback names the syscall that was failed.
#include <linux/seccomp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"

namespace aioh::faults {
namespace {

// The calls a row may fail: the AIO and io_uring entry points and what
// glibc's AIO workers and the scenarios' set-up call.
const std::set<std::string> kSyscalls = {
    "io_setup", "io_destroy", "io_submit", "io_getevents", "io_pgetevents", "io_cancel",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "fsync", "fdatasync",
    "clone", "clone3", "openat", "eventfd2"};

std::vector<std::string> target_names(const std::string& target) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t bar; (bar = target.find('|', start)) != std::string::npos; start = bar + 1)
    out.push_back(target.substr(start, bar - start));
  out.push_back(target.substr(start));
  return out;
}

std::string validate_syscall(const FaultSpec& f) {
  auto names = target_names(f.target);
  for (const auto& n : names)
    if (!kSyscalls.count(n)) return fmt::format("fault target '{}' is not a syscall this layer knows", n);
  if (std::set<std::string>(names.begin(), names.end()).size() != names.size())
    return fmt::format("fault target '{}' names a syscall twice", f.target);
  // SIGSYS: SECCOMP_RET_TRAP, the call never runs and the caller is sent SIGSYS (Android's app policy).
  if (f.effect == "SIGSYS" && names.size() > 1) return "a SIGSYS fault traps one syscall: name one target";
  if (f.effect == "SIGSYS") return f.trigger == "always" ? "" : "a SIGSYS fault kills the caller: trigger must be \"always\"";
  if (!errno_from_name(f.effect)) return fmt::format("fault effect '{}' is not an errno name or SIGSYS", f.effect);
  return "";
}

struct Supervisor {
  int ready[2] = {-1, -1};  // the listener fd travels over this pipe
  std::string fiu;
  int err = 0;
  // With alternative targets: each one's number and name, and which of them
  // were failed (appended to the readback once each).
  std::vector<std::pair<int, std::string>> alternatives;
  std::set<int> noted;
  FaultState* st = nullptr;
};
Supervisor g_sup;
FaultState* g_trap_st = nullptr;
int g_trap_nr = -1;

// Counts the kernel's trap, then dies of it: SA_RESETHAND restored the
// default action, and the SIGSYS raised here is delivered on return.
void on_sigsys(int, siginfo_t* si, void*) {
  if (g_trap_st && si->si_code == 1 /* SYS_SECCOMP */ && si->si_syscall == g_trap_nr) {
    g_trap_st->calls++;
    g_trap_st->fired++;
  }
  raise(SIGSYS);
}

Installed install_trap(int nr, const FaultSpec& f, FaultState* st) {
  g_trap_st = st;
  g_trap_nr = nr;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSYS, &sa, nullptr);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return {Installed::broken, "seccomp_init failed", ""};
  int rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 0);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) return {Installed::broken, fmt::format("cannot load the seccomp TRAP filter for {}: {}", f.target, errno_name(-rc)), ""};
  snprintf(st->detail, sizeof st->detail, "seccomp SECCOMP_RET_TRAP on %s: SIGSYS (SYS_SECCOMP) counted, then fatal", f.target.c_str());
  return {Installed::ok, "", ""};
}

void note_failed(int nr) {
  if (g_sup.alternatives.size() < 2 || !g_sup.noted.insert(nr).second) return;
  for (const auto& [n, name] : g_sup.alternatives) {
    if (n != nr) continue;
    size_t len = strnlen(g_sup.st->detail, sizeof g_sup.st->detail);
    snprintf(g_sup.st->detail + len, sizeof g_sup.st->detail - len, "; failed %s", name.c_str());
  }
}

void* supervise(void*) {
  int fd = -1;
  if (read(g_sup.ready[0], &fd, sizeof fd) != sizeof fd || fd < 0) return nullptr;
  for (;;) {
    seccomp_notif req;
    memset(&req, 0, sizeof req);  // SECCOMP_IOCTL_NOTIF_RECV wants it zeroed
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return nullptr;
    }
    seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    if (decide(g_sup.fiu)) {
      resp.error = -g_sup.err;
      note_failed(req.data.nr);
    } else {
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;  // run the real call
    }
    // ENOENT: the caller was interrupted meanwhile; the call restarts and
    // comes back as a new notification.
    ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
}

Installed install_syscall(const FaultSpec& f, FaultState* st) {
  g_sup.alternatives.clear();
  for (const auto& name : target_names(f.target)) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) return {Installed::broken, "libseccomp does not know syscall " + name, ""};
    g_sup.alternatives.emplace_back(nr, name);
  }
  if (f.effect == "SIGSYS") return install_trap(g_sup.alternatives[0].first, f, st);
  g_sup.fiu = f.fiu_name();
  g_sup.err = errno_of(f.effect);
  g_sup.st = st;
  if (pipe2(g_sup.ready, O_CLOEXEC) != 0) return {Installed::broken, "pipe2 failed", ""};
  pthread_t th;
  if (pthread_create(&th, nullptr, supervise, nullptr) != 0) return {Installed::broken, "cannot start the seccomp supervisor", ""};
  pthread_detach(th);

  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return {Installed::broken, "seccomp_init failed", ""};
  int rc = 0;
  for (const auto& alt : g_sup.alternatives)
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, alt.first, 0);
  // Only this thread (and what it creates later) is filtered: no TSYNC, so
  // the supervisor stays outside.
  if (rc == 0) rc = seccomp_load(ctx);
  int fd = rc == 0 ? seccomp_notify_fd(ctx) : -1;
  seccomp_release(ctx);
  if (rc != 0 || fd < 0) return {Installed::broken, fmt::format("cannot load the seccomp notify filter for {}: {}", f.target, errno_name(rc != 0 ? -rc : -fd)), ""};
  (void)!write(g_sup.ready[1], &fd, sizeof fd);
  snprintf(st->detail, sizeof st->detail, "seccomp SECCOMP_RET_USER_NOTIF on %s; the supervisor answers %s", f.target.c_str(), f.effect.c_str());
  return {Installed::ok, "", ""};
}

}  // namespace

// Shared (no claim): a seccomp filter is the case's process's own.
AIOH_FAULT_LAYER("syscall", .order = 10, .validate = validate_syscall,
                 .install = [](const FaultSpec& f, FaultState* st, const std::string&) { return install_syscall(f, st); });

}  // namespace aioh::faults
