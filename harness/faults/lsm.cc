// The BPF LSM fault layer: a kernel-side fault that every interface must
// surface, io_uring included, because it sits below all of them. The case's
// child loads faults/lsm.bpf.c (compiled at build time and embedded here),
// attaches it to lsm/file_permission, and on arm() names the scratch files
// (s_dev, i_ino) and its own tgid; the program then fails matching reads or
// writes with the row's errno and counts matches and denials in a map that
// disarm() reads back: `fired` comes from the kernel. Nothing is pinned: the
// link lives only in this process's fd table, so the program detaches when
// the child exits or is killed — there is nothing to journal. Attaching
// succeeds even where the bpf LSM is not active (the program is then never
// called: bpftrace#2716), so support is decided by a full round trip in the
// probe, never by the attach.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <dirent.h>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"

#ifdef AIOH_HAVE_BPF_LSM
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lsm_bpf_obj.h"  // generated: aioh_lsm_bpf_obj[], the compiled lsm.bpf.c
#endif

namespace aioh::faults {
namespace {

// Same layouts as in lsm.bpf.c.
struct LsmConfig {
  uint32_t tgid, mask;
  int32_t err;
  uint32_t armed;
  uint64_t nth;
};
struct LsmStats {
  uint64_t matches, fired;
};
struct LsmKey {
  uint64_t ino;
  uint32_t dev, pad;
};
constexpr uint32_t kMayWrite = 2, kMayRead = 4;  // include/linux/fs.h MAY_WRITE, MAY_READ

// The kernel's dev_t (include/linux/kdev_t.h MKDEV) from stat's st_dev.
uint32_t kernel_dev(dev_t d) { return (major(d) << 20) | minor(d); }

#ifdef AIOH_HAVE_BPF_LSM
std::string g_libbpf_log;
int capture_libbpf(enum libbpf_print_level level, const char* format, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof buf, format, ap);
  g_libbpf_log += buf;
  if (g_libbpf_log.size() > 2048) g_libbpf_log.erase(0, g_libbpf_log.size() - 2048);
  return n;
}

// The line that says why: the verifier's last word when libbpf printed its
// log (the line before "-- END PROG LOAD LOG --"), else libbpf's last line.
std::string last_log_line() {
  std::string s = g_libbpf_log;
  if (size_t end = s.find("-- END PROG LOAD LOG --"); end != std::string::npos) s.erase(end);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// CAP_BPF and CAP_PERFMON to load a tracing-class program, CAP_MAC_ADMIN
// for an LSM one (kernel/bpf/syscall.c bpf_prog_load()).
bool have_caps() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  for (int cap : {CAP_BPF, CAP_PERFMON, CAP_MAC_ADMIN})
    if (!(d[cap / 32].effective & (1u << (cap % 32)))) return false;
  return true;
}

// One loaded and attached program with its maps.
struct Loaded {
  bpf_object* obj = nullptr;
  bpf_link* link = nullptr;
  int cfg = -1, stats = -1, targets = -1;
  std::string error;  // why it is not loaded
  void close() {
    if (link) bpf_link__destroy(link);
    if (obj) bpf_object__close(obj);
    link = nullptr;
    obj = nullptr;
  }
};

Loaded load_and_attach() {
  Loaded l;
  libbpf_set_print(capture_libbpf);
  g_libbpf_log.clear();
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    l.error = "no kernel BTF (/sys/kernel/btf/vmlinux missing: CONFIG_DEBUG_INFO_BTF is off), so no CO-RE and no lsm/ programs";
    return l;
  }
  l.obj = bpf_object__open_mem(aioh_lsm_bpf_obj, sizeof aioh_lsm_bpf_obj, nullptr);
  if (!l.obj) {
    l.error = fmt::format("cannot open the embedded BPF object: {}", errno_name(errno));
    return l;
  }
  if (bpf_object__load(l.obj) != 0) {
    int e = errno;
    std::string why = "; libbpf: " + last_log_line();
    if (e == EPERM)
      why = have_caps() ? ", although CAP_BPF, CAP_PERFMON and CAP_MAC_ADMIN are effective: a kernel policy (lockdown, or an LSM's "
                          "bpf_prog_load hook) refuses BPF trampoline programs here"
                        : ": needs CAP_BPF, CAP_PERFMON and CAP_MAC_ADMIN";
    l.error = fmt::format("BPF_PROG_LOAD of lsm/file_permission refused: {} ({}){}", errno_name(e), strerror(e), why);
    l.close();
    return l;
  }
  bpf_program* prog = bpf_object__find_program_by_name(l.obj, "aioh_file_permission");
  l.link = prog ? bpf_program__attach_lsm(prog) : nullptr;
  if (!l.link) {
    int e = errno;
    l.error = fmt::format("attaching lsm/file_permission failed: {} ({}){}", errno_name(e), strerror(e),
                          e == 524 ? ": no BPF trampoline on this architecture" : "");
    l.close();
    return l;
  }
  l.cfg = bpf_object__find_map_fd_by_name(l.obj, "aioh_lsm_cfg");
  l.stats = bpf_object__find_map_fd_by_name(l.obj, "aioh_lsm_stats");
  l.targets = bpf_object__find_map_fd_by_name(l.obj, "aioh_lsm_targets");
  if (l.cfg < 0 || l.stats < 0 || l.targets < 0) {
    l.error = "the BPF object lacks its maps";
    l.close();
  }
  return l;
}

bool set_config(const Loaded& l, const LsmConfig& c) {
  uint32_t zero = 0;
  return bpf_map_update_elem(l.cfg, &zero, &c, BPF_ANY) == 0;
}

bool add_target(const Loaded& l, const struct stat& sb) {
  LsmKey k{static_cast<uint64_t>(sb.st_ino), kernel_dev(sb.st_dev), 0};
  uint8_t one = 1;
  return bpf_map_update_elem(l.targets, &k, &one, BPF_ANY) == 0;
}

LsmStats read_stats(const Loaded& l) {
  uint32_t zero = 0;
  LsmStats s{};
  bpf_map_lookup_elem(l.stats, &zero, &s);
  return s;
}

Loaded g_lsm;
LsmConfig g_cfg;
std::string g_dir;
int g_targets = 0;
#endif

FaultState* g_lsm_st = nullptr;

}  // namespace

int count_lsm_programs() {
#ifndef AIOH_HAVE_BPF_LSM
  return -1;
#else
  // BPF_PROG_GET_NEXT_ID over every loaded program; names are cut to 15 chars.
  int n = 0;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strncmp(info.name, "aioh_file_permission", sizeof info.name - 1) == 0) n++;
    close(fd);
  }
  return n;
#endif
}

std::string probe_bpf_lsm(const std::string& scratch_dir) {
#ifndef AIOH_HAVE_BPF_LSM
  (void)scratch_dir;
  return "harness built without the BPF LSM program: clang or libbpf-dev was missing at build time";
#else
  Loaded l = load_and_attach();
  if (!l.error.empty()) return l.error;
  // Round trip: a read of a file of ours must now fail with the errno.
  std::string path = scratch_dir + "/bpf-lsm-probe";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  std::string why;
  struct stat sb {};
  char c = 'x';
  if (fd < 0 || pwrite(fd, &c, 1, 0) != 1 || fstat(fd, &sb) != 0) why = "cannot create the probe file in " + scratch_dir;
  else if (!add_target(l, sb) || !set_config(l, {static_cast<uint32_t>(getpid()), kMayRead, EXDEV, 1, 0})) why = "cannot write the BPF maps";
  if (why.empty()) {
    ssize_t n = pread(fd, &c, 1, 0);
    int e = errno;
    LsmStats s = read_stats(l);
    if (n == -1 && e == EXDEV && s.fired == 1) why = "";
    else if (s.matches == 0 && n == 1)
      why = "the program attached but file_permission never ran it: bpf is not in the active LSM list (lsm= / /sys/kernel/security/lsm)";
    else why = fmt::format("the round trip did not deny the read (pread {} {}, {} matches, {} denied)", n, n < 0 ? errno_name(e) : "", s.matches, s.fired);
  }
  if (fd >= 0) close(fd);
  unlink(path.c_str());
  l.close();
  return why;
#endif
}

std::string validate_lsm(const FaultSpec& f) {
  if (f.target != "read" && f.target != "write") return "lsm fault target must be read or write";
  if (!errno_from_name(f.effect)) return fmt::format("lsm fault effect '{}' is not an errno name", f.effect);
  // Counted in the BPF program, which has no libfiu: always, once or nth:N.
  if (f.trigger.rfind("random:", 0) == 0 || f.trigger == "external") return "lsm fault trigger must be always, once or nth:N";
  return "";
}

Installed install_lsm(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  g_lsm_st = st;
#ifndef AIOH_HAVE_BPF_LSM
  (void)f;
  (void)case_dir;
  return {Installed::skip, "harness built without the BPF LSM program: clang or libbpf-dev was missing at build time", ""};
#else
  g_lsm = load_and_attach();
  // The probe said the bpf LSM works here (the row requires it): a failure now is the harness's.
  if (!g_lsm.error.empty()) return {Installed::broken, g_lsm.error, ""};
  uint64_t nth = f.trigger == "always" ? 0 : f.trigger == "once" ? 1 : strtoull(f.trigger.c_str() + 4, nullptr, 10);
  g_cfg = {static_cast<uint32_t>(getpid()), f.target == "read" ? kMayRead : kMayWrite, errno_of(f.effect), 0, nth};
  g_dir = case_dir;
  if (!set_config(g_lsm, g_cfg)) return {Installed::broken, "cannot write the BPF config map", ""};
  snprintf(st->detail, sizeof st->detail, "BPF LSM program on lsm/file_permission denies %s of the case's files with %s (tgid %d)",
           f.target.c_str(), f.effect.c_str(), getpid());
  return {Installed::ok, "", ""};
#endif
}

// The scratch files exist by now (fault-aware scenarios arm after preparing them).
void arm_lsm(bool on) {
#ifdef AIOH_HAVE_BPF_LSM
  if (!g_lsm.obj) return;
  if (on && g_targets == 0) {
    if (DIR* d = opendir(g_dir.c_str())) {
      while (dirent* e = readdir(d)) {
        struct stat sb {};
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) && add_target(g_lsm, sb)) g_targets++;
      }
      closedir(d);
    }
  }
  g_cfg.armed = on ? 1 : 0;
  set_config(g_lsm, g_cfg);
  if (!on && g_lsm_st) {
    LsmStats s = read_stats(g_lsm);
    g_lsm_st->calls = static_cast<long>(s.matches);
    g_lsm_st->fired = static_cast<long>(s.fired);
  }
#else
  (void)on;
#endif
}

void release_lsm(FaultState* st) {
#ifdef AIOH_HAVE_BPF_LSM
  size_t len = strnlen(st->detail, sizeof st->detail);
  snprintf(st->detail + len, sizeof st->detail - len, "; %d target file(s); the kernel counted %ld matching access(es), %ld denied",
           g_targets, st->calls.load(), st->fired.load());
  g_lsm.close();  // detaches now; exit would do the same
#else
  (void)st;
#endif
}

AIOH_FAULT_LAYER("lsm", .order = 60, .validate = validate_lsm, .install = install_lsm,
                 .arm = [] { arm_lsm(true); }, .disarm = [](FaultState*) { arm_lsm(false); }, .release = release_lsm,
                 .claim = {true, "", "a BPF LSM program on file_permission sees every process's accesses"});

}  // namespace aioh::faults
