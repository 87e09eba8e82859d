// The rlimit layer: RLIMIT_FSIZE (a write past the limit gets EFBIG and the
// writer SIGXFSZ, which a handler counts as the proof the fault fired:
// mm/filemap.c generic_write_check_limits()), RLIMIT_NOFILE with no fd slot
// left (proof: dup() gets EMFILE while it is in force), RLIMIT_MEMLOCK with
// CAP_IPC_LOCK dropped, as for an ordinary user (proof: mlock() past it gets
// ENOMEM, mm/mlock.c). Set in the case's child only: root here lacks
// CAP_SYS_RESOURCE, so a lowered hard limit never comes back.
#include <dirent.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "system/capabilities.h"

namespace aioh::faults {
namespace {

using system::drop_capability;
using system::has_effective;

FaultState* g_rl_st = nullptr;
std::string g_rl_target;
rlimit g_nofile_old{};
bool g_nofile_set = false;
long g_memlock = 0;

std::string validate_rlimit(const FaultSpec& f) {
  if (f.target == "nofile")
    return f.effect == "exhaust" ? "" : "rlimit nofile effect must be \"exhaust\" (no fd slot left once armed)";
  if (f.target != "fsize" && f.target != "memlock")
    return fmt::format("rlimit target '{}': fsize (RLIMIT_FSIZE), memlock (RLIMIT_MEMLOCK) or nofile (RLIMIT_NOFILE)", f.target);
  if (!counted(f.effect, "limit:")) return fmt::format("rlimit effect '{}' is not limit:BYTES", f.effect);
  return "";
}

void on_sigxfsz(int) {
  if (g_rl_st) g_rl_st->fired++;
}

Installed install_memlock(long limit, FaultState* st) {
  g_memlock = limit;
  rlimit rl{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return {Installed::broken, std::string("setrlimit(RLIMIT_MEMLOCK) failed: ") + errno_name(errno), ""};
  if (!drop_capability(CAP_IPC_LOCK)) return {Installed::broken, std::string("cannot drop CAP_IPC_LOCK: ") + errno_name(errno), ""};
  snprintf(st->detail, sizeof st->detail, "RLIMIT_MEMLOCK=%ld and CAP_IPC_LOCK dropped (effective+permitted) in the case's process", limit);
  return {Installed::ok, "", ""};
}

// RLIMIT_NOFILE = the lowest free fd: every slot below it is taken, so the
// next fd anyone asks for (a ring, an eventfd) gets EMFILE (fs/file.c
// alloc_fd()). Set when armed, after the scenario opened its own files.
void arm_rlimit() {
  if (g_rl_target != "nofile" || g_nofile_set) return;
  int lowest = dup(STDIN_FILENO);
  if (lowest < 0) return;
  close(lowest);
  getrlimit(RLIMIT_NOFILE, &g_nofile_old);
  rlimit rl{static_cast<rlim_t>(lowest), g_nofile_old.rlim_max};
  g_nofile_set = setrlimit(RLIMIT_NOFILE, &rl) == 0;
  snprintf(g_rl_st->detail, sizeof g_rl_st->detail, "RLIMIT_NOFILE=%d (was %llu) once armed: fds 0..%d all open", lowest,
           static_cast<unsigned long long>(g_nofile_old.rlim_cur), lowest - 1);
}

Installed install_rlimit(const FaultSpec& f, FaultState* st) {
  g_rl_st = st;
  g_rl_target = f.target;
  if (f.target == "nofile") return {Installed::ok, "", ""};  // arm_rlimit() sets it
  long limit = strtol(f.effect.c_str() + 6, nullptr, 0);
  if (f.target == "memlock") return install_memlock(limit, st);
  struct sigaction sa {};
  sa.sa_handler = on_sigxfsz;  // counted, not fatal: the write then returns EFBIG
  sigemptyset(&sa.sa_mask);
  sigaction(SIGXFSZ, &sa, nullptr);
  rlimit rl{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return {Installed::broken, std::string("setrlimit(RLIMIT_FSIZE) failed: ") + errno_name(errno), ""};
  snprintf(st->detail, sizeof st->detail, "RLIMIT_FSIZE=%ld in the case's process; SIGXFSZ counted by a handler", limit);
  return {Installed::ok, "", ""};
}

// glibc's AIO workers and io_uring's io-wq workers block signals, so their
// SIGXFSZ stays pending on the worker (SigPnd in /proc/self/task/*/status),
// readable only while the worker lives: before the scenario's teardown.
void checkpoint_rlimit(FaultState* st) {
  if (g_rl_target == "nofile") {
    // In force when dup() finds no slot; then the old limit comes back for
    // the scenario's own checks (it lists /proc/self/fd).
    if (!g_nofile_set) return;
    st->calls = 1;
    int fd = dup(STDIN_FILENO);
    if (fd < 0 && errno == EMFILE) st->fired = 1;
    if (fd >= 0) close(fd);
    setrlimit(RLIMIT_NOFILE, &g_nofile_old);
    g_nofile_set = false;
    return;
  }
  if (g_rl_target == "memlock") {
    // The kernel's own answer: locking more than the limit without
    // CAP_IPC_LOCK is refused (mm/mlock.c do_mlock(): ENOMEM).
    if (st->calls.load() > 0) return;
    st->calls = 1;
    size_t len = static_cast<size_t>(g_memlock) + 2 * 4096;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    int rc = mlock(p, len);
    int e = errno;
    if (rc == 0) munlock(p, len);
    munmap(p, len);
    if (rc != 0 && e == ENOMEM && !has_effective(CAP_IPC_LOCK)) st->fired = 1;
    return;
  }
  if (st->fired.load() > 0) return;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/status");
      std::string line;
      while (std::getline(in, line))
        if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0) {
          unsigned long long mask = strtoull(line.c_str() + 7, nullptr, 16);
          if (mask & (1ULL << (SIGXFSZ - 1))) {
            st->fired++;
            break;
          }
        }
    }
    closedir(d);
  }
}

void release_rlimit(FaultState* st) {
  // release() runs after a scenario that never disarmed (not fault-aware): read back now.
  checkpoint_rlimit(st);
  size_t at = strnlen(st->detail, sizeof st->detail);
  if (g_rl_target == "nofile") {
    snprintf(st->detail + at, sizeof st->detail - at, "; dup() %s while it was in force", st->fired.load() ? "got EMFILE" : "still found a slot");
    return;
  }
  if (g_rl_target == "memlock") {
    snprintf(st->detail + at, sizeof st->detail - at, "; mlock(%ld bytes) past it %s", g_memlock + 2 * 4096,
             st->fired.load() ? "got ENOMEM" : "was not refused with ENOMEM");
    return;
  }
  long n = st->fired.load();
  size_t len = strnlen(st->detail, sizeof st->detail);
  snprintf(st->detail + len, sizeof st->detail - len, "; SIGXFSZ raised in %ld thread(s) (handled or pending on a worker)", n);
}

// A limit is the case's process's own, but without CAP_IPC_LOCK io_uring
// charges the rings to root's one locked-memory account
// (io_uring/rsrc.c __io_account_mem), which two memlock cases would share.
LayerClaim claim_rlimit(const FaultSpec& f) {
  if (f.target != "memlock") return {};
  return {false, "memlock", "memlock drops CAP_IPC_LOCK, so io_uring charges root's shared locked memory"};
}

}  // namespace

AIOH_FAULT_LAYER("rlimit", .order = 20, .whole_case = true, .validate = validate_rlimit,
                 .install = [](const FaultSpec& f, FaultState* st, const std::string&) { return install_rlimit(f, st); },
                 .arm = arm_rlimit, .disarm = checkpoint_rlimit, .release = release_rlimit,
                 .fiu_point = [](const FaultSpec& f) { return "limit/" + f.target; },
                 .claim_for = claim_rlimit);

}  // namespace aioh::faults
