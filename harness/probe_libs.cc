// Library facts: which liburing and libaio this process really loaded (their
// versions, the same way on a host and in a VM guest) and what they do,
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

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

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

// ---- the versions of the libraries loaded --------------------------------
// Informational (hint text and report columns; no expectation keys on them).
// One form everywhere: what the library itself says where it can
// (io_uring_major_version()/io_uring_minor_version(), exported by liburing
// 2.4 and later, looked up in the loaded object itself), else the upstream
// version of the Debian package that owns the loaded file (a VM guest's image
// carries those dpkg records for the libraries it copies), else the version
// in the real file's name (liburing.so.2.3 -> 2.3; for libaio that is the
// soname's 1.0.2, not the release, and the source says so).

std::string loaded_path(void* sym) {
  Dl_info info{};
  if (!sym || !dladdr(sym, &info) || !info.dli_fname) return "";
  char real[PATH_MAX];
  return realpath(info.dli_fname, real) ? real : info.dli_fname;
}

// "2.3-3" -> "2.3", "1:0.3.113-4+b1" -> "0.3.113" (deb-version(7): epoch:upstream-revision).
std::string upstream_version(std::string v) {
  if (auto colon = v.find(':'); colon != std::string::npos) v = v.substr(colon + 1);
  if (auto dash = v.rfind('-'); dash != std::string::npos) v = v.substr(0, dash);
  return v;
}

// The dpkg packages (name and version) owning each path, from dpkg's
// database; a path no package owns is absent.
std::map<std::string, std::pair<std::string, std::string>> owning_packages(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> want;  // path as dpkg may list it -> the path asked for
  for (auto& p : paths) {
    if (p.empty()) continue;
    want[p] = p;
    if (p.rfind("/usr/lib/", 0) == 0) want[p.substr(4)] = p;  // merged /usr: dpkg may list /lib/...
    else if (p.rfind("/lib/", 0) == 0) want["/usr" + p] = p;
  }
  std::map<std::string, std::string> pkg_of;  // path asked for -> package name
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/var/lib/dpkg/info", ec)) {
    if (e.path().extension() != ".list") continue;
    std::ifstream f(e.path());
    std::string line;
    while (std::getline(f, line))
      if (auto it = want.find(line); it != want.end() && !pkg_of.count(it->second)) {
        auto stem = e.path().stem().string();
        pkg_of[it->second] = stem.substr(0, stem.find(':'));
      }
  }
  std::map<std::string, std::pair<std::string, std::string>> out;
  if (pkg_of.empty()) return out;
  std::ifstream st("/var/lib/dpkg/status");
  std::string line, name;
  std::map<std::string, std::string> version_of;
  while (std::getline(st, line)) {
    if (line.rfind("Package: ", 0) == 0) name = line.substr(9);
    else if (line.rfind("Version: ", 0) == 0 && !version_of.count(name)) version_of[name] = line.substr(9);
  }
  for (auto& [path, pkg] : pkg_of)
    if (auto it = version_of.find(pkg); it != version_of.end()) out[path] = {pkg, it->second};
  return out;
}

// The version in the real file's name: ".../liburing.so.2.3" -> "2.3".
std::string file_name_version(const std::string& path) {
  auto pos = path.rfind(".so.");
  return pos == std::string::npos ? "" : path.substr(pos + 4);
}

// liburing's own answer, from the loaded object (RTLD_DEFAULT could find
// another copy first); "" where this build does not export it.
std::string liburing_reported_version(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (!h) return "";
  using VersionFn = int (*)();
  auto major = reinterpret_cast<VersionFn>(dlsym(h, "io_uring_major_version"));
  auto minor = reinterpret_cast<VersionFn>(dlsym(h, "io_uring_minor_version"));
  std::string v = major && minor ? fmt::format("{}.{}", major(), minor()) : "";
  dlclose(h);
  return v;
}

}  // namespace

void probe_libraries(Environment& env) {
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

void probe_library_versions(Environment& env) {
  const std::string uring = loaded_path(reinterpret_cast<void*>(&io_uring_queue_init));
  const std::string aio = loaded_path(reinterpret_cast<void*>(&io_queue_init));
  auto owners = owning_packages({uring, aio});
  auto record = [&](const std::string& lib, const std::string& path, const std::string& reported) {
    env.info[lib + "_path"] = path;
    std::string version = reported, source = reported.empty() ? "" : "library";
    if (auto it = owners.find(path); it != owners.end()) {
      env.info[lib + "_package"] = it->second.first + " " + it->second.second;
      if (version.empty()) version = upstream_version(it->second.second), source = "package";
    }
    if (version.empty() && !(version = file_name_version(path)).empty())
      source = lib == "libaio" ? "file name (the soname version, not the release)" : "file name";
    env.info[lib + "_version"] = version.empty() ? "unknown" : version;
    env.info[lib + "_version_source"] = source.empty() ? "none" : source;
  };
  record("liburing", uring, liburing_reported_version(uring));
  record("libaio", aio, "");
}

}  // namespace aioh
