// The environment probe. Each interface's availability comes from a full
// round trip run in a forked child (a seccomp policy may answer with SIGSYS),
// and a refusal is classified so that every case of that interface can skip
// with the real cause. Nothing here is decided from a version string.
#include "probe.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <libaio.h>
#include <liburing.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend.h"
#include "errno_names.h"
#include "faults/block.h"
#include "faults/fault.h"
#include "probe_kernel.h"
#include "system/capabilities.h"
#include "system/child.h"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

namespace aioh {
namespace {

using json = nlohmann::json;

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (f) std::getline(f, s);
  return s;
}

std::optional<int64_t> read_int(const std::string& path) {
  std::string s = read_first_line(path);
  if (s.empty()) return std::nullopt;
  try {
    return std::stoll(s);
  } catch (...) {
    return std::nullopt;
  }
}

// Runs fn in a forked child (system/child.h) and returns its JSON, or
// {"killed": SIG} when a signal ended it (seccomp SIGSYS, a crash in the library).
json in_child(const std::function<json()>& fn) {
  auto c = system::run_in_child([&] { return fn().dump(); }, 0);
  if (!c.error.empty()) return json{{"error", c.error}};
  if (c.signal) return json{{"killed", c.signal}};
  try {
    return json::parse(c.out);
  } catch (...) {
    return json{{"error", "probe child wrote no result"}};
  }
}

constexpr const char* kUringOps[] = {
    "NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED",
    "POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG",
    "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT",
    "CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX",
    "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2",
    "EPOLL_CTL", "SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE",
    "SHUTDOWN", "RENAMEAT", "UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT",
    "MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET",
    "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID",
    "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV", "FIXED_FD_INSTALL",
    "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT", "READV_FIXED",
    "WRITEV_FIXED", "PIPE"};

constexpr const char* kUringFeats[] = {
    "SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS", "CUR_PERSONALITY",
    "FAST_POLL", "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG", "NATIVE_WORKERS",
    "RSRC_TAGS", "CQE_SKIP", "LINKED_FILE", "REG_REG_RING", "RECVSEND_BUNDLE",
    "MIN_TIMEOUT", "RW_ATTR", "NO_IOWAIT"};

// Setup flags probed one at a time, with the companions each one needs.
struct SetupFlag {
  const char* name;
  unsigned bit;
  unsigned companions;
};
constexpr SetupFlag kSetupFlags[] = {
    {"IOPOLL", 0, 0},          {"SQPOLL", 1, 0},
    {"SQ_AFF", 2, 1u << 1},    {"CQSIZE", 3, 0},
    {"CLAMP", 4, 0},           {"R_DISABLED", 6, 0},
    {"SUBMIT_ALL", 7, 0},      {"COOP_TASKRUN", 8, 0},
    {"TASKRUN_FLAG", 9, 1u << 8}, {"SQE128", 10, 0},
    {"CQE32", 11, 0},          {"SINGLE_ISSUER", 12, 0},
    {"DEFER_TASKRUN", 13, 1u << 12}, {"NO_SQARRAY", 16, 0},
    {"HYBRID_IOPOLL", 17, 1u << 0},  // only with IOPOLL (io_uring/io_uring.c io_uring_setup)
};

std::string classify_uring_refusal(int err) {
  auto disabled = read_int("/proc/sys/kernel/io_uring_disabled");
  std::string seccomp;
  {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("Seccomp:", 0) == 0) seccomp = line.substr(8);
  }
  bool filtered = seccomp.find('2') != std::string::npos;
  if (disabled && *disabled == 2)
    return fmt::format("io_uring_setup {}: kernel.io_uring_disabled=2 (io_uring disabled for all)", errno_name(err));
  if (disabled && *disabled == 1 && err == EPERM)
    return "io_uring_setup EPERM: kernel.io_uring_disabled=1 and not in kernel.io_uring_group";
  if (err == ENOSYS)
    return filtered ? "io_uring_setup ENOSYS under a seccomp filter (Podman/gVisor-style policy)"
                    : "io_uring_setup ENOSYS: kernel without CONFIG_IO_URING";
  if (err == EPERM)
    return filtered ? "io_uring_setup EPERM under a seccomp filter (Docker-style default profile)"
                    : "io_uring_setup EPERM";
  if (err == ENOMEM) return "io_uring_setup ENOMEM: RLIMIT_MEMLOCK too small for the rings";
  return "io_uring_setup failed: " + errno_name(err);
}

json probe_io_uring() {
  json j;
  io_uring_params p{};
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, 8, &p));
  if (fd < 0) {
    int err = errno;
    j["ok"] = false;
    j["reason"] = classify_uring_refusal(err);
    return j;
  }
  j["ok"] = true;
  json feats = json::object();
  for (unsigned i = 0; i < std::size(kUringFeats); i++)
    feats[kUringFeats[i]] = ((p.features >> i) & 1) != 0;
  j["feat"] = feats;

  // The opcode facts come from the kernel's own IORING_REGISTER_PROBE, not from
  // liburing's io_uring_get_probe(): a broken liburing must fail the rows that
  // use it (uring-lib.get-probe-is-the-kernels), not turn them into skips.
  json ops = json::object();
  constexpr unsigned kProbeOps = 256;
  std::vector<char> buf(sizeof(io_uring_probe) + kProbeOps * sizeof(io_uring_probe_op), 0);
  auto* probe = reinterpret_cast<io_uring_probe*>(buf.data());
  if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, probe, kProbeOps) == 0) {
    for (unsigned i = 0; i < std::size(kUringOps); i++)
      ops[kUringOps[i]] = i <= probe->last_op && i < probe->ops_len &&
                          (probe->ops[i].flags & IO_URING_OP_SUPPORTED) != 0;
  }
  close(fd);
  j["op"] = ops;

  json setup = json::object();
  for (const auto& f : kSetupFlags) {
    io_uring_params q{};
    q.flags = (1u << f.bit) | f.companions;
    if (f.bit == 3) q.cq_entries = 16;
    int rfd = static_cast<int>(syscall(__NR_io_uring_setup, 8, &q));
    setup[f.name] = rfd >= 0;
    if (rfd >= 0) close(rfd);
  }
  j["setup"] = setup;
  return j;
}

std::string classify_aio_refusal(int err) {
  if (err == ENOSYS) return "io_setup ENOSYS: kernel without CONFIG_AIO, or a seccomp filter";
  if (err == EAGAIN) return "io_setup EAGAIN: fs.aio-max-nr exhausted";
  if (err == EPERM) return "io_setup EPERM: refused by a seccomp filter";
  return "io_setup failed: " + errno_name(err);
}

json probe_kernel_aio() {
  unsigned long ctx = 0;  // aio_context_t (linux/aio_abi.h clashes with libaio.h)
  if (syscall(__NR_io_setup, 1, &ctx) != 0)
    return json{{"ok", false}, {"reason", classify_aio_refusal(errno)}};
  syscall(__NR_io_destroy, ctx);
  return json{{"ok", true}};
}

std::string fs_name(const std::string& dir) {
  // The longest mount point that is a prefix of dir names its filesystem.
  char real[PATH_MAX];
  if (!realpath(dir.c_str(), real)) return "unknown";
  std::string path = real, best_mp, best_fs = "unknown";
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string id, parent, devno, root, mp, opts, field;
    is >> id >> parent >> devno >> root >> mp >> opts;
    while (is >> field && field != "-") {}
    std::string fstype;
    is >> fstype;
    bool prefix = path == mp || mp == "/" ||
                  (path.rfind(mp, 0) == 0 && path.size() > mp.size() && path[mp.size()] == '/');
    if (prefix && mp.size() >= best_mp.size()) {
      best_mp = mp;
      best_fs = fstype;
    }
  }
  return best_fs;
}

void probe_dio(Environment& env, const std::string& scratch) {
  std::string path = scratch + "/.probe-dio";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) {
    env.facts["dio"] = false;
    env.info["dio_reason"] = "open(O_DIRECT) on the scratch filesystem: " + errno_name(errno);
    unlink(path.c_str());
    return;
  }
  env.facts["dio"] = true;
  struct statx stx {};
  bool have = statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
              (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0;
  env.facts["statx_dioalign"] = have;

  struct stat st {};
  fstat(fd, &st);
  std::string sys = fmt::format("/sys/dev/block/{}:{}", major(st.st_dev), minor(st.st_dev));
  auto lbs = read_int(sys + "/queue/logical_block_size");
  if (!lbs) lbs = read_int(sys + "/../queue/logical_block_size");  // a partition
  auto dma = read_int(sys + "/queue/dma_alignment");
  if (!dma) dma = read_int(sys + "/../queue/dma_alignment");
  if (lbs) env.facts["logical_block_size"] = *lbs;
  if (dma) env.facts["dma_alignment"] = *dma;

  if (have) {
    env.facts["dio_mem_align"] = static_cast<int64_t>(stx.stx_dio_mem_align);
    env.facts["dio_offset_align"] = static_cast<int64_t>(stx.stx_dio_offset_align);
    env.info["dio_align_source"] = "statx(STATX_DIOALIGN)";
  } else if (lbs) {
    // Without STATX_DIOALIGN, the block layer's historical rule: memory and
    // offsets aligned to the logical block size.
    env.facts["dio_mem_align"] = *lbs;
    env.facts["dio_offset_align"] = *lbs;
    env.info["dio_align_source"] = "sysfs logical_block_size";
  }
  close(fd);
  unlink(path.c_str());
}

}  // namespace

bool is_known_fact(const std::string& name) {
  static const char* kNames[] = {
      "root", "io_uring", "io_uring_disabled", "kernel_aio", "aio_max_nr",
      "aio_nr", "dio", "statx_dioalign", "dio_mem_align", "dio_offset_align",
      "logical_block_size", "dma_alignment", "memlock_soft", "memlock_hard",
      "nofile_soft", "seccomp", "fuse", "kmsg_writable", "scratch_fs", "cpus",
      "null_blk", "device_mapper", "scsi_debug", "vm_guest", "nvme_max_retries", "bpf_lsm",
      "memlock_charged", "ring_memlock_charged", "io_uring.read.buffered_eio_reissued"};
  for (const char* n : kNames)
    if (name == n) return true;
  if (is_kernel_behaviour_fact(name)) return true;
  for (const char* prefix : {"io_uring.op.", "io_uring.feat.", "io_uring.setup.", "liburing.", "libaio."})
    if (name.rfind(prefix, 0) == 0 && name.size() > strlen(prefix)) return true;
  return false;
}

namespace {

// The machine and the userspace: kernel, distribution, C and AIO libraries.
void probe_system_info(Environment& env) {
  utsname u{};
  uname(&u);
  env.info["kernel_release"] = u.release;
  env.info["kernel_version"] = u.version;
  env.info["machine"] = u.machine;
  {
    std::ifstream f("/etc/os-release");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("PRETTY_NAME=", 0) == 0) {
        std::string v = line.substr(12);
        if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
        env.info["distro"] = v;
      }
  }
  env.info["glibc_version"] = gnu_get_libc_version();
  probe_library_versions(env);
}

// Who runs, the global AIO/io_uring settings and the limits the cases meet.
void probe_limits(Environment& env) {
  env.facts["root"] = geteuid() == 0;
  env.facts["cpus"] = static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN));
  env.facts["kmsg_writable"] = access("/dev/kmsg", W_OK) == 0;
  if (auto v = read_int("/proc/sys/kernel/io_uring_disabled")) env.facts["io_uring_disabled"] = *v;
  if (auto v = read_int("/proc/sys/fs/aio-max-nr")) env.facts["aio_max_nr"] = *v;
  if (auto v = read_int("/proc/sys/fs/aio-nr")) env.facts["aio_nr"] = *v;
  {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("Seccomp:", 0) == 0) env.facts["seccomp"] = static_cast<int64_t>(std::stoll(line.substr(8)));
  }
  rlimit rl{};
  auto lim = [](rlim_t v) { return v == RLIM_INFINITY ? int64_t{-1} : static_cast<int64_t>(v); };
  if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
    env.facts["memlock_soft"] = lim(rl.rlim_cur);
    env.facts["memlock_hard"] = lim(rl.rlim_max);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) env.facts["nofile_soft"] = lim(rl.rlim_cur);
}

void probe_memlock(Environment& env) {
  // io_uring charges RLIMIT_MEMLOCK only to a ring made without CAP_IPC_LOCK
  // (io_uring/io_uring.c io_uring_create(): ctx->user), so root's limit is moot.
  env.facts["memlock_charged"] = !system::has_effective(CAP_IPC_LOCK);
  // Whether the ring itself is charged (not from 5.12, again from the
  // io_uring/memmap.c io_create_region() rework): a ring made under
  // RLIMIT_MEMLOCK=0 without CAP_IPC_LOCK, in a child.
  json charged = in_child([] {
    rlimit zero{0, 0};
    if (!system::drop_capability(CAP_IPC_LOCK) || setrlimit(RLIMIT_MEMLOCK, &zero) != 0) return json{{"error", "cannot drop CAP_IPC_LOCK"}};
    io_uring ring;
    int ret = io_uring_queue_init(8, &ring, 0);
    if (ret == 0) io_uring_queue_exit(&ring);
    return json{{"ret", ret}};
  });
  if (charged.contains("ret") && (charged["ret"] == 0 || charged["ret"] == -ENOMEM))
    env.facts["ring_memlock_charged"] = charged["ret"] == -ENOMEM;
}

// The interfaces' own independent round trips (never the call under test).
void probe_interfaces(Environment& env) {
  json uring = in_child(probe_io_uring);
  bool uring_ok = uring.value("ok", false);
  env.facts["io_uring"] = uring_ok;
  std::string uring_reason;
  if (uring.contains("killed"))
    uring_reason = fmt::format("io_uring_setup killed the process with signal {} (seccomp SIGSYS policy)",
                               uring["killed"].get<int>() == SIGSYS ? "SIGSYS" : std::to_string(uring["killed"].get<int>()));
  else if (!uring_ok)
    uring_reason = uring.value("reason", uring.value("error", "io_uring probe failed"));
  for (const char* group : {"op", "feat", "setup"})
    if (uring.contains(group))
      for (auto& [k, v] : uring[group].items())
        env.facts[fmt::format("io_uring.{}.{}", group, k)] = v.get<bool>();
  if (!uring_reason.empty()) env.info["io_uring_reason"] = uring_reason;

  json aio = in_child(probe_kernel_aio);
  bool aio_ok = aio.value("ok", false);
  std::string aio_reason = aio.contains("killed") ? "io_setup killed the process (seccomp SIGSYS policy)"
                                                  : aio.value("reason", "");
  env.facts["kernel_aio"] = aio_ok;
  if (!aio_reason.empty()) env.info["kernel_aio_reason"] = aio_reason;
}

// The fault layers' round trips: the fault fs, the BPF LSM, the block
// facilities and the buffered bad-block read defect.
void probe_fs_layer(Environment& env, const std::string& scratch) {
  // The fs fault layer's own round trip: mount, an EIO read that fires, unmount.
  json fuse = in_child([&] {
    faults::policy_exempt_machinery();  // a sysctl policy concerns io_uring, not the fault fs's mount
    std::string why = faults::probe_fs(scratch);
    return json{{"ok", why.empty()}, {"reason", why}};
  });
  env.facts["fuse"] = fuse.value("ok", false);
  if (!env.flag("fuse")) env.info["fuse_reason"] = fuse.value("reason", fuse.value("error", "fuse probe failed"));
}

void probe_lsm_layer(Environment& env, const std::string& scratch) {
  // The lsm fault layer: a BPF LSM program loaded, attached and seen denying
  // a read, in a child so nothing outlives the probe (faults/lsm.cc).
  json lsm = in_child([&] { return json{{"reason", faults::probe_bpf_lsm(scratch)}}; });
  std::string why = lsm.contains("killed") ? "the BPF LSM probe died of signal " + std::to_string(lsm["killed"].get<int>())
                                           : lsm.value("reason", lsm.value("error", "BPF LSM probe failed"));
  env.facts["bpf_lsm"] = why.empty();
  if (!why.empty()) env.info["bpf_lsm_reason"] = why;
}

void probe_block_layer(Environment& env, const std::string& scratch) {
  // Block fault facilities (faults/block.cc): usable when the module is here.
  for (const char* fac : {"null_blk", "device_mapper", "scsi_debug"}) {
    std::string why = faults::block_facility_reason(fac);
    env.facts[fac] = why.empty();
    if (!why.empty()) env.info[std::string(fac) + "_reason"] = why;
  }
  // The defect behind the buffered bad-block read rows on io_uring, reproduced on
  // the rows' null_blk device (faults/block.h probe_buffered_read_reissue).
  // Not in a device-fault guest: on a reissuing kernel the probe's failed reads
  // flood the rate-limited error log line those rows read `fired` from.
  if (env.flag("io_uring") && !getenv("AIOH_DEVICE_FAULT")) {
    auto r = faults::probe_buffered_read_reissue(scratch);
    if (r.reissued) env.facts["io_uring.read.buffered_eio_reissued"] = *r.reissued;
    else env.info["io_uring.read.buffered_eio_reissued_reason"] = r.why;
  } else if (env.flag("io_uring")) {
    env.info["io_uring.read.buffered_eio_reissued_reason"] = "not probed in a device-fault guest";
  }
}

}  // namespace

Environment probe_environment(const std::string& scratch) {
  Environment env;
  env.scratch_dir = scratch;
  probe_system_info(env);
  probe_limits(env);
  probe_memlock(env);
  // A guest of the VM orchestrator (vm/guest/init.sh), and what its disk carries: device faults
  // run only there, and a one-shot fault is visible only with the NVMe driver's retries off.
  env.facts["vm_guest"] = getenv("AIOH_VM_GUEST") != nullptr;
  if (const char* d = getenv("AIOH_DEVICE_FAULT")) env.info["vm_device_fault"] = d;
  if (auto v = read_int("/sys/module/nvme_core/parameters/max_retries")) env.facts["nvme_max_retries"] = *v;
  probe_interfaces(env);
  env.facts["scratch_fs"] = fs_name(scratch);
  probe_fs_layer(env, scratch);
  probe_dio(env, scratch);
  probe_lsm_layer(env, scratch);
  probe_kernel_behaviour(env, scratch);
  probe_libraries(env);  // probe_libs.cc: what the loaded liburing/libaio do
  probe_block_layer(env, scratch);
  record_interface_availability(env);  // each registered interface from the facts above
  return env;
}

}  // namespace aioh
