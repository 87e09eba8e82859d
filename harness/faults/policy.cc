// Host policy layers: RLIMIT_FSIZE (a write past the limit gets EFBIG and the
// writer SIGXFSZ, which a handler counts as the proof the fault fired:
// mm/filemap.c generic_write_check_limits()), RLIMIT_NOFILE with no fd slot
// left (proof: dup() gets EMFILE while it is in force), RLIMIT_MEMLOCK with
// CAP_IPC_LOCK dropped, as for an ordinary user (proof: mlock() past it gets
// ENOMEM, mm/mlock.c), and the global sysctls users
// meet in the field: fs.aio-max-nr exhausted (fs/aio.c ioctx_alloc() EAGAIN)
// and kernel.io_uring_disabled 1/2 (io_uring/io_uring.c io_uring_allowed()).
// A sysctl is changed under the machine-wide settings lock with its original
// kept and journalled BEFORE it is changed (system/settings.h), and restored
// right after the case, so a killed case or harness is undone by the runner,
// the next run or `harness --cleanup`, and a second run beside it neither
// changes it at the same time nor mistakes the temporary value for the old
// one. The window is one case (or, for the run-level profiles, one probe).
#include <dirent.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "faults/fault.h"
#include "system/settings.h"

namespace aioh::faults {
namespace {

FaultState* g_rl_st = nullptr;
std::string g_rl_target;
rlimit g_nofile_old{};
bool g_nofile_set = false;
long g_memlock = 0;
using system::SysctlChange;
SysctlChange g_change{system::kCaseLockWait};  // the case's fault row
std::string g_sysctl_target;
long g_set_value = 0;
bool g_dropped_admin = false;
bool g_policy_dropped_admin = false;  // io_uring-disabled-1 around the probe

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

std::string set_sysctl(const std::string& path, const std::string& value, SysctlChange& ch) { return ch.set(path, value); }

void restore_sysctl(SysctlChange& ch) { ch.restore(); }

void on_sigxfsz(int) {
  if (g_rl_st) g_rl_st->fired++;
}

// CAP_SYS_ADMIN lets io_uring_allowed() through kernel.io_uring_disabled=1;
// dropping it from the effective set makes this process an ordinary user.
bool set_admin_effective(bool on) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  if (on) d[CAP_SYS_ADMIN / 32].effective |= 1u << (CAP_SYS_ADMIN % 32);
  else d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
  return syscall(SYS_capset, &h, d) == 0;
}

// Drops a capability from the effective and permitted sets for good (the
// case's process only): io_uring/io_uring.c io_uring_create() charges
// registered buffers to RLIMIT_MEMLOCK only without CAP_IPC_LOCK.
bool drop_capability(int cap) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  d[cap / 32].effective &= ~(1u << (cap % 32));
  d[cap / 32].permitted &= ~(1u << (cap % 32));
  return syscall(SYS_capset, &h, d) == 0;
}

bool has_effective(int cap) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  return syscall(SYS_capget, &h, d) == 0 && (d[cap / 32].effective & (1u << (cap % 32)));
}

Installed install_memlock(long limit, FaultState* st) {
  g_memlock = limit;
  rlimit rl{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return {Installed::broken, std::string("setrlimit(RLIMIT_MEMLOCK) failed: ") + strerror(errno), ""};
  if (!drop_capability(CAP_IPC_LOCK)) return {Installed::broken, std::string("cannot drop CAP_IPC_LOCK: ") + strerror(errno), ""};
  snprintf(st->detail, sizeof st->detail, "RLIMIT_MEMLOCK=%ld and CAP_IPC_LOCK dropped (effective+permitted) in the case's process", limit);
  return {Installed::ok, "", ""};
}

}  // namespace

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
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return {Installed::broken, std::string("setrlimit(RLIMIT_FSIZE) failed: ") + strerror(errno), ""};
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

Installed install_sysctl(const FaultSpec& f, FaultState* st) {
  g_sysctl_target = f.target;
  std::string err;
  if (f.target == "aio-max-nr") {
    // 0: any io_setup now fails, whatever other processes hold or free
    // meanwhile (fs/aio.c ioctx_alloc() "aio_nr + nr_events > aio_max_nr").
    g_set_value = 0;
    err = set_sysctl("/proc/sys/fs/aio-max-nr", std::to_string(g_set_value), g_change);
  } else {
    g_set_value = strtol(f.effect.c_str(), nullptr, 10);
    if (g_set_value == 1 && !(g_dropped_admin = set_admin_effective(false)))
      return {Installed::broken, "cannot drop CAP_SYS_ADMIN for kernel.io_uring_disabled=1", ""};
    err = set_sysctl("/proc/sys/kernel/io_uring_disabled", f.effect, g_change);
  }
  if (!err.empty()) return {Installed::broken, err, ""};
  st->calls = 1;
  return {Installed::ok, "", ""};
}

// The readback names the original and, when another run held the lock, that.
std::string lock_note() { return g_change.lock_note().empty() ? "" : "; " + g_change.lock_note(); }

void release_sysctl(FaultState* st) {
  // Read the kernel's own state back before restoring it.
  std::string now = read_text(g_change.path());
  long held = strtol(now.c_str(), nullptr, 10);
  if (g_sysctl_target == "aio-max-nr") {
    long nr = strtol(read_text("/proc/sys/fs/aio-nr").c_str(), nullptr, 10);
    if (held == 0) st->fired = 1;
    snprintf(st->detail, sizeof st->detail, "fs.aio-max-nr=%ld (was %s) with fs.aio-nr=%ld: no room for an io_setup%s", held,
             g_change.original().c_str(), nr, lock_note().c_str());
  } else {
    bool ok = held == g_set_value;
    if (g_set_value == 1) {
      std::string gid = read_text("/proc/sys/kernel/io_uring_group");
      ok = ok && gid == "-1";
      snprintf(st->detail, sizeof st->detail, "kernel.io_uring_disabled=%ld (was %s), io_uring_group=%s, CAP_SYS_ADMIN dropped%s",
               held, g_change.original().c_str(), gid.c_str(), lock_note().c_str());
    } else {
      snprintf(st->detail, sizeof st->detail, "kernel.io_uring_disabled=%ld (was %s)%s", held, g_change.original().c_str(),
               lock_note().c_str());
    }
    if (ok) st->fired = 1;
  }
  restore_sysctl(g_change);
  if (g_dropped_admin) set_admin_effective(true);
}

std::string with_policy_sysctl(const std::string& name, const std::function<void()>& probe) {
  SysctlChange ch;
  std::string err;
  bool drop = false;
  if (name == "io_uring-disabled-2") {
    err = set_sysctl("/proc/sys/kernel/io_uring_disabled", "2", ch);
  } else if (name == "io_uring-disabled-1") {
    err = set_sysctl("/proc/sys/kernel/io_uring_disabled", "1", ch);
    // An ordinary user: io_uring_allowed() lets CAP_SYS_ADMIN through.
    // Dropped from the effective set only (the harness's own machinery —
    // the FUSE probe's mount — takes it back: policy_exempt_machinery()).
    if (err.empty() && !(drop = set_admin_effective(false))) err = "cannot drop CAP_SYS_ADMIN";
    g_policy_dropped_admin = drop;
  } else if (name == "aio-max-nr-exhausted") {
    err = set_sysctl("/proc/sys/fs/aio-max-nr", "0", ch);
  } else {
    return fmt::format("unknown policy '{}' (known: {})", name, policy_names());
  }
  if (err.empty()) probe();  // the only thing that runs under the changed sysctl
  if (drop) set_admin_effective(true);
  g_policy_dropped_admin = false;
  if (std::string r = ch.restore(); !r.empty() && err.empty()) err = "could not restore after the probe: " + r;
  return err;
}

void policy_exempt_machinery() {
  if (g_policy_dropped_admin) set_admin_effective(true);
}

}  // namespace aioh::faults
