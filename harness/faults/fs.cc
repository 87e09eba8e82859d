// The fs fault layer: a small libfuse3 filesystem that the case's child forks
// and mounts on <case>/fs, serving the files of <case>/fs-backing. Its read,
// write and fsync handlers ask the row's libfiu point (fs/read, fs/write,
// fs/fsync) for every request that overlaps the row's offset range and answer
// the chosen errno, a short count (short:N) or the real answer after a delay
// (delay:MS) — the host-side way to make a completion fail, come back short or
// stay in flight, identically for all four interfaces. The daemon is a fork of
// the case's child, so it counts into the case's shared FaultState: `fired` is
// what the filesystem did, not what the harness expected. O_DIRECT opens are
// answered with FOPEN_DIRECT_IO so each request reaches the daemon as issued;
// buffered opens drop the page cache (no FOPEN_KEEP_CACHE: fs/fuse/file.c
// fuse_finish_open() invalidates it). The mount is journalled (umount) and the
// daemon dies with the child (PR_SET_PDEATHSIG), so nothing outlives a kill.
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "system/device_guard.h"
#include "system/journal.h"
#include "timespec.h"

namespace aioh::faults {
namespace {

// What the daemon did, in memory shared with the case's child: the last
// requests it decided on, for the result's readback text.
struct FsLog {
  std::atomic<int> n;
  std::atomic<long> entered;      // delayed requests that reached the daemon
  std::atomic<long> interrupted;  // delays cut short by FUSE_INTERRUPT
  struct Entry {
    char op;
    int fired;
    long long off;
    unsigned long size;
  } e[24];
};

struct Rule {
  std::string op;
  long long lo = 0, hi = -1;  // [lo, hi); hi < 0: no range
  int err = 0;                // errno effect
  long long short_n = -1;     // short:N
  long delay_ms = -1;         // delay:MS
};

Rule g_rule;
std::string g_fiu, g_backing, g_mnt;
FsLog* g_log = nullptr;
int g_entered_fd = -1;  // eventfd: one count per delayed request entering the daemon
pid_t g_daemon = -1;
long g_umount_id = -1;

std::string backing(const char* path) { return g_backing + path; }

// Does this request get the fault? Only the row's op, only requests that
// overlap the range, each decided by the libfiu point (counted while armed).
bool hit(const char* op, long long off, unsigned long size) {
  if (g_rule.op != op) return false;
  if (g_rule.hi >= 0 && !(off < g_rule.hi && off + static_cast<long long>(size) > g_rule.lo)) return false;
  if (!armed()) return false;
  bool f = decide(g_fiu);
  int i = g_log->n.fetch_add(1);
  if (i < static_cast<int>(sizeof g_log->e / sizeof g_log->e[0])) g_log->e[i] = {op[0], f, off, size};
  return f;
}

// Sleeps the rule's delay; false when FUSE_INTERRUPT cut it short (the
// kernel sends one when the waiting task gets a signal: fs/fuse/dev.c
// request_wait_answer() -> queue_interrupt()).
bool delay() {
  g_log->entered++;
  uint64_t one = 1;
  (void)!write(g_entered_fd, &one, sizeof one);
  timespec left = ms_to_timespec(g_rule.delay_ms);
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    if (fuse_interrupted()) {
      g_log->interrupted++;
      return false;
    }
  }
  return true;
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info*) {
  return lstat(backing(path).c_str(), st) == 0 ? 0 : -errno;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
  DIR* d = opendir(backing(path).c_str());
  if (!d) return -errno;
  while (dirent* e = readdir(d)) fill(buf, e->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  closedir(d);
  return 0;
}

// O_DIRECT: FOPEN_DIRECT_IO, so the request reaches the daemon with the
// caller's offset and size (fs/fuse/file.c fuse_direct_read_iter/
// fuse_direct_write_iter). Buffered: no keep_cache, so the open drops what the
// page cache held and a read goes to the daemon.
void open_flags(fuse_file_info* fi) {
  fi->direct_io = (fi->flags & O_DIRECT) != 0;
  fi->keep_cache = 0;
}

int fs_open(const char* path, fuse_file_info* fi) {
  int fd = open(backing(path).c_str(), (fi->flags & ~O_DIRECT) | O_CLOEXEC);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  open_flags(fi);
  return 0;
}

int fs_create(const char* path, mode_t mode, fuse_file_info* fi) {
  int fd = open(backing(path).c_str(), (fi->flags & ~O_DIRECT) | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  open_flags(fi);
  return 0;
}

// The rule applied to a read or write the range hits: its error (-errno),
// else 0 with *size cut short or after the delay.
int apply_rule(const char* op, off_t off, size_t* size) {
  if (!hit(op, off, *size)) return 0;
  if (g_rule.err) return -g_rule.err;
  if (g_rule.short_n >= 0) *size = std::min<size_t>(*size, static_cast<size_t>(g_rule.short_n));
  if (g_rule.delay_ms >= 0 && !delay()) return -EINTR;
  return 0;
}

int fs_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  if (int e = apply_rule("read", off, &size)) return e;
  ssize_t n = pread(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int fs_write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  if (int e = apply_rule("write", off, &size)) return e;
  ssize_t n = pwrite(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int fs_fsync(const char*, int datasync, fuse_file_info* fi) {
  if (hit("fsync", 0, 0)) {
    if (g_rule.err) return -g_rule.err;
    if (g_rule.delay_ms >= 0 && !delay()) return -EINTR;
  }
  int fd = static_cast<int>(fi->fh);
  return (datasync ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : -errno;
}

int fs_release(const char*, fuse_file_info* fi) {
  close(static_cast<int>(fi->fh));
  return 0;
}

int fs_truncate(const char* path, off_t size, fuse_file_info* fi) {
  int r = fi ? ftruncate(static_cast<int>(fi->fh), size) : truncate(backing(path).c_str(), size);
  return r == 0 ? 0 : -errno;
}

int fs_unlink(const char* path) { return unlink(backing(path).c_str()) == 0 ? 0 : -errno; }
int fs_mkdir(const char* path, mode_t mode) { return mkdir(backing(path).c_str(), mode) == 0 ? 0 : -errno; }
int fs_rmdir(const char* path) { return rmdir(backing(path).c_str()) == 0 ? 0 : -errno; }
int fs_chmod(const char* path, mode_t mode, fuse_file_info*) { return chmod(backing(path).c_str(), mode) == 0 ? 0 : -errno; }
int fs_utimens(const char* path, const timespec tv[2], fuse_file_info*) {
  return utimensat(AT_FDCWD, backing(path).c_str(), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}
int fs_statfs(const char*, struct statvfs* s) { return statvfs(g_backing.c_str(), s) == 0 ? 0 : -errno; }

void* fs_init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // a buffered write reaches the daemon before it returns
  cfg->kernel_cache = 0;
  cfg->auto_cache = 0;
  cfg->direct_io = 0;
  cfg->intr = 1;  // FUSE_INTERRUPT reaches the handler as SIGUSR1 (fuse_interrupted())
  return nullptr;
}

[[noreturn]] void serve(int ready_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  fuse_operations ops{};
  ops.getattr = fs_getattr;
  ops.readdir = fs_readdir;
  ops.open = fs_open;
  ops.create = fs_create;
  ops.read = fs_read;
  ops.write = fs_write;
  ops.fsync = fs_fsync;
  ops.release = fs_release;
  ops.truncate = fs_truncate;
  ops.unlink = fs_unlink;
  ops.mkdir = fs_mkdir;
  ops.rmdir = fs_rmdir;
  ops.chmod = fs_chmod;
  ops.utimens = fs_utimens;
  ops.statfs = fs_statfs;
  ops.init = fs_init;
  const char* argv[] = {"aioh-faultfs", "-o", "fsname=aioh-faultfs,subtype=aioh", nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  fuse* f = fuse_new(&args, &ops, sizeof ops, nullptr);
  std::string msg = "fuse_new failed";
  if (f && fuse_mount(f, g_mnt.c_str()) == 0) msg = "ok";
  else if (f) msg = "fuse_mount " + g_mnt + " failed";
  if (write(ready_fd, msg.data(), msg.size()) < 0 || msg != "ok") _exit(1);
  close(ready_fd);
  fuse_loop_mt(f, 0);
  fuse_unmount(f);
  fuse_destroy(f);
  _exit(0);
}

}  // namespace

std::string validate_fs(const FaultSpec& f) {
  if (f.target != "read" && f.target != "write" && f.target != "fsync")
    return fmt::format("fs fault target '{}': read, write or fsync", f.target);
  const std::string& e = f.effect;
  char* end = nullptr;
  if (e.rfind("short:", 0) == 0) {
    if (f.target == "fsync") return "fs fault: short:N applies to read and write";
    long v = strtol(e.c_str() + 6, &end, 10);
    if (*end || v < 0) return "fs fault effect short:N needs N >= 0 bytes";
  } else if (e.rfind("delay:", 0) == 0) {
    long v = strtol(e.c_str() + 6, &end, 10);
    if (*end || v < 1 || v > 60000) return "fs fault effect delay:MS needs 1 <= MS <= 60000";
  } else if (!errno_from_name(e)) {
    return fmt::format("fs fault effect '{}' is not an errno name, short:N or delay:MS", e);
  }
  if (!f.range.empty()) {
    long long lo = strtoll(f.range.c_str(), &end, 10);
    if (*end != ':') return "fs fault range must be \"LO:HI\" (bytes, HI exclusive)";
    long long hi = strtoll(end + 1, &end, 10);
    if (*end || lo < 0 || hi <= lo) return "fs fault range must be \"LO:HI\" with 0 <= LO < HI";
    if (f.target == "fsync") return "fs fault: an fsync has no offset range";
  }
  return "";
}

void release_fs(FaultState* st);

Installed install_fs(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  if (access("/dev/fuse", R_OK | W_OK) != 0) return {Installed::skip, "no usable /dev/fuse: " + errno_name(errno), ""};
  g_rule = Rule{};
  g_rule.op = f.target;
  if (f.effect.rfind("short:", 0) == 0) g_rule.short_n = strtoll(f.effect.c_str() + 6, nullptr, 10);
  else if (f.effect.rfind("delay:", 0) == 0) g_rule.delay_ms = strtol(f.effect.c_str() + 6, nullptr, 10);
  else g_rule.err = errno_of(f.effect);
  if (!f.range.empty()) {
    char* end = nullptr;
    g_rule.lo = strtoll(f.range.c_str(), &end, 10);
    g_rule.hi = strtoll(end + 1, nullptr, 10);
  }
  g_fiu = f.fiu_name();
  g_backing = case_dir + "/fs-backing";
  g_mnt = case_dir + "/fs";
  if (mkdir(g_backing.c_str(), 0700) != 0 || mkdir(g_mnt.c_str(), 0700) != 0)
    return {Installed::broken, "cannot create the fault fs directories: " + errno_name(errno), ""};
  void* p = mmap(nullptr, sizeof(FsLog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return {Installed::broken, "mmap of the fault fs log failed", ""};
  g_log = new (p) FsLog{};
  g_entered_fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
  int pp[2];
  if (g_entered_fd < 0 || pipe2(pp, O_CLOEXEC) != 0) return {Installed::broken, "eventfd/pipe2 failed", ""};
  // Journalled before the mount exists: a kill at any point leaves an entry
  // whose undo (umount2 MNT_DETACH) is harmless if nothing was mounted.
  g_umount_id = Journal::run_journal().record(UndoKind::umount, {g_mnt});
  fflush(nullptr);
  g_daemon = fork();
  if (g_daemon < 0) return {Installed::broken, "fork of the fault fs daemon failed", ""};
  if (g_daemon == 0) {
    close(pp[0]);
    // Keep only stderr, the ready pipe and the eventfd: the daemon must not
    // hold the case's report pipe open.
    for (int fd = 3; fd < 1024; fd++)
      if (fd != pp[1] && fd != g_entered_fd) close(fd);
    serve(pp[1]);
  }
  close(pp[1]);
  pollfd pf{pp[0], POLLIN, 0};
  char buf[256] = {};
  ssize_t n = poll(&pf, 1, 10000) == 1 ? read(pp[0], buf, sizeof buf - 1) : -1;
  close(pp[0]);
  std::string got = n > 0 ? std::string(buf, n) : "no answer from the daemon within 10 s";
  if (got != "ok" || !system::is_mount_point(g_mnt)) {
    release_fs(st);
    return {Installed::broken, "fault fs: " + got, ""};
  }
  snprintf(st->detail, sizeof st->detail, "libfuse3 %d fault fs (pid %d) on %s, rule %s %s%s%s", fuse_version(),
           static_cast<int>(g_daemon), g_mnt.c_str(), f.target.c_str(), f.effect.c_str(),
           f.range.empty() ? "" : " range ", f.range.c_str());
  return {Installed::ok, "", g_mnt};
}

void release_fs(FaultState* st) {
  if (g_daemon > 0) {
    // Detach first: the scenario may still hold an fd on the mount. Then the
    // daemon goes, which aborts the connection (fs/fuse/dev.c
    // fuse_dev_release) so nothing can wait on it any more.
    umount2(g_mnt.c_str(), MNT_DETACH);
    kill(g_daemon, SIGKILL);
    waitpid(g_daemon, nullptr, 0);
    g_daemon = -1;
  }
  if (!system::is_mount_point(g_mnt) && g_umount_id >= 0) {
    Journal::run_journal().done(g_umount_id);
    g_umount_id = -1;
  }
  if (g_log && st) {
    std::string s;
    int n = std::min<int>(g_log->n.load(), sizeof g_log->e / sizeof g_log->e[0]);
    for (int i = 0; i < n; i++)
      s += fmt::format("{}{}@{}+{}{}", i ? " " : "; requests: ", g_log->e[i].op, g_log->e[i].off, g_log->e[i].size,
                       g_log->e[i].fired ? "!" : "");
    if (g_log->entered.load()) s += fmt::format("; delayed {}, interrupted {}", g_log->entered.load(), g_log->interrupted.load());
    size_t len = strnlen(st->detail, sizeof st->detail);
    snprintf(st->detail + len, sizeof st->detail - len, "%s", s.c_str());
  }
}

bool fs_wait_entered(int timeout_ms) {
  if (g_entered_fd < 0) return false;
  pollfd pf{g_entered_fd, POLLIN, 0};
  if (poll(&pf, 1, timeout_ms) != 1) return false;
  uint64_t v;
  return read(g_entered_fd, &v, sizeof v) == sizeof v;
}

// Shared (no claim): the FUSE mount sits on the case's own directory, which
// no other case opens, and its daemon is the case's.
AIOH_FAULT_LAYER("fs", .order = 50, .validate = validate_fs, .install = install_fs, .release = release_fs);

}  // namespace aioh::faults

namespace aioh::faults {

std::string probe_fs(const std::string& scratch_dir) {
  std::string dir = fmt::format("{}/fuse-probe-{}", scratch_dir, getpid());
  if (mkdir(dir.c_str(), 0700) != 0) return "cannot create " + dir + ": " + errno_name(errno);
  FaultState* st = state_alloc();
  FaultSpec f{"fs", "read", "EIO", "always", ""};
  Installed in = install(f, 0, st, dir, false);
  std::string why;
  if (in.kind != Installed::ok) {
    why = in.reason;
  } else {
    std::string path = in.scratch_dir + "/probe";
    int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    char c = 'x';
    if (fd < 0 || pwrite(fd, &c, 1, 0) != 1) why = "cannot write a file on the fault fs: " + errno_name(errno);
    if (fd >= 0) close(fd);
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);  // reopened: the page cache is dropped
    arm();
    ssize_t n = fd >= 0 ? pread(fd, &c, 1, 0) : -1;
    int e = errno;
    disarm();
    if (fd >= 0) close(fd);
    // >= 1: a failed buffered readahead is retried once by read_folio
    // (mm/filemap.c filemap_update_page), which fails again.
    if (why.empty() && !(n < 0 && e == EIO && st->fired.load() >= 1))
      why = fmt::format("a read under an EIO rule returned {} ({}), fired {}", n, n < 0 ? errno_name(e) : "no error",
                        st->fired.load());
  }
  release();
  if (why.empty() && system::is_mount_point(dir + "/fs")) why = "the fault fs stayed mounted after release";
  std::filesystem::remove_all(dir);
  state_free(st);
  return why;
}

}  // namespace aioh::faults
