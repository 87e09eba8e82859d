// Kernel-AIO, POSIX AIO and O_DIRECT behaviour facts (see probe_aio.h). Each
// fact is one round trip through a call other than the request a row tests:
// preadv2/pwritev2 for RWF_* flags, ioprio_set(2) for ioprio hint bits,
// statx(2) for what the kernel reports, fcntl(F_SETFL) and a synchronous
// preadv(2)/pread(2) for the O_DIRECT rules of a target. Nothing is decided
// from a version; an answer outside the expected pair leaves the fact absent
// with its reason.
#include "probe_aio.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"
#include "pattern.h"
#include "rwf_compat.h"
#include "system/settings.h"

namespace aioh {
namespace {

constexpr unsigned kStatxDioalign = 0x00002000U, kStatxWriteAtomic = 0x00010000U,
                   kStatxDioReadAlign = 0x00020000U;
// struct statx offsets (include/uapi/linux/stat.h), read from a raw buffer so
// old headers do not matter.
constexpr size_t kMask = 0, kAtomicMin = 168, kAtomicMax = 172, kAtomicSegs = 176;

uint32_t u32_at(const unsigned char* b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

bool raw_statx(int fd, unsigned mask, unsigned char (&out)[256]) {
  std::memset(out, 0, sizeof out);
  return syscall(SYS_statx, fd, "", AT_EMPTY_PATH, mask, out) == 0;
}

void decide(Environment& env, const std::string& name, int verdict, const std::string& why) {
  if (verdict == 0 || verdict == 1) env.facts[name] = verdict == 1;
  else env.info[name + "_reason"] = why;
}

// Runs fn in a forked child: its exit code (0 false, 1 true, else undecided),
// or -1 when it died. For probes that change the process (signal masks,
// ioprio) or may be killed by a signal.
int child_answer(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  if (pid < 0) return -1;
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// preadv2(RWF_NOWAIT) on an eventfd holding 1: fs/eventfd.c gained
// ->read_iter and FMODE_NOWAIT together (commit 12aceb89b0bc, Linux 5.12);
// before it the flag is refused (fs/read_write.c do_loop_readv_writev()).
void probe_eventfd(Environment& env) {
  int efd = eventfd(1, EFD_CLOEXEC);
  if (efd < 0) return decide(env, "rwf.nowait.eventfd", 2, "eventfd " + errno_name(errno));
  uint64_t v = 0;
  iovec iv{&v, sizeof v};
  ssize_t r = preadv2(efd, &iv, 1, -1, RWF_NOWAIT);
  int err = errno;
  close(efd);
  decide(env, "rwf.nowait.eventfd", r == 8 && v == 1 ? 1 : r < 0 && err == EOPNOTSUPP ? 0 : 2,
         "preadv2(eventfd, RWF_NOWAIT) " + (r < 0 ? errno_name(err) : std::to_string(r)));
}

// pwritev2(RWF_NOWAIT) of the value 1 to an eventfd: only a file with
// ->write_iter takes the flag (fs/read_write.c vfs_writev(); without it
// do_loop_readv_writev() refuses every flag but RWF_HIPRI with EOPNOTSUPP),
// and eventfd has had FMODE_NOWAIT since 5.12. fs/eventfd.c eventfd_write()
// is a plain ->write, which fs/aio.c aio_write() refuses (EINVAL); a kernel
// that converts it shows 1 here. The counter must then read 2.
void probe_eventfd_write(Environment& env) {
  int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return decide(env, "rwf.nowait.eventfd_write", 2, "eventfd " + errno_name(errno));
  uint64_t v = 1, got = 0;
  iovec iv{&v, sizeof v};
  ssize_t r = pwritev2(efd, &iv, 1, -1, RWF_NOWAIT);
  int err = errno;
  bool counted = r == 8 && read(efd, &got, sizeof got) == sizeof got && got == 2;
  close(efd);
  decide(env, "rwf.nowait.eventfd_write", counted ? 1 : r < 0 && err == EOPNOTSUPP ? 0 : 2,
         "pwritev2(eventfd, RWF_NOWAIT) " + (r < 0 ? errno_name(err) : std::to_string(r) + ", counter " + std::to_string(got)));
}

// preadv2(RWF_DONTCACHE) of a scratch file: include/linux/fs.h
// kiocb_set_rw_flags() refuses it with EOPNOTSUPP unless the filesystem sets
// FOP_DONTCACHE (and before Linux 6.14 as an unknown flag).
void probe_dontcache(Environment& env, const std::string& scratch) {
  std::string path = scratch + "/.probe-dontcache";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  std::vector<uint8_t> b(4096);
  fill_pattern(b.data(), b.size(), kFileSeed, 0);
  if (fd < 0 || write(fd, b.data(), b.size()) != 4096) {
    decide(env, "rwf.dontcache", 2, "cannot write " + path);
  } else {
    std::vector<uint8_t> got(4096);
    iovec iv{got.data(), got.size()};
    ssize_t r = preadv2(fd, &iv, 1, 0, RWF_DONTCACHE);
    int err = errno;
    decide(env, "rwf.dontcache", r == 4096 && got == b ? 1 : r < 0 && err == EOPNOTSUPP ? 0 : 2,
           "preadv2(RWF_DONTCACHE) " + (r < 0 ? errno_name(err) : std::to_string(r)));
  }
  if (fd >= 0) close(fd);
  unlink(path.c_str());
}

// pwritev2(RWF_NOSIGNAL) into a pipe without reader, SIGPIPE blocked:
// EPIPE with no SIGPIPE pending where fs/pipe.c pipe_write() honours
// IOCB_NOSIGNAL; EOPNOTSUPP where the flag is unknown.
void probe_nosignal(Environment& env) {
  int a = child_answer([] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, nullptr);
    int p[2];
    if (pipe(p) != 0) return 2;
    close(p[0]);
    char c = 'x';
    iovec iv{&c, 1};
    ssize_t r = pwritev2(p[1], &iv, 1, -1, RWF_NOSIGNAL);
    int err = errno;
    sigset_t pend;
    sigpending(&pend);
    if (r < 0 && err == EOPNOTSUPP) return 0;
    if (r < 0 && err == EPIPE) return sigismember(&pend, SIGPIPE) ? 3 : 1;
    return 2;
  });
  decide(env, "rwf.nosignal", a, a == 3 ? "RWF_NOSIGNAL accepted but SIGPIPE was raised"
                                        : "pwritev2(RWF_NOSIGNAL) into a broken pipe answered neither EOPNOTSUPP nor EPIPE");
}

// ioprio_set(2) of IOPRIO_CLASS_BE with hint 1 (data 1 << 3) in a child:
// block/ioprio.c ioprio_check_cap() checks only IOPRIO_PRIO_LEVEL (3 bits)
// since the hint bits came (Linux 6.5), the whole 13-bit data before.
void probe_ioprio_hints(Environment& env) {
  int a = child_answer([] {
    const int prio = (2 << 13) | (1 << 3);
    long r = syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, prio);
    if (r == 0) return 1;
    return errno == EINVAL ? 0 : 2;
  });
  decide(env, "ioprio.hints", a, "ioprio_set(IOPRIO_CLASS_BE | hint 1) answered neither 0 nor EINVAL");
}

// Statx reporting on a scratch file opened O_DIRECT: whether the kernel
// answers STATX_WRITE_ATOMIC (Linux 6.11) and STATX_DIO_READ_ALIGN (6.14).
void probe_statx_masks(Environment& env, const std::string& scratch) {
  std::string path = scratch + "/.probe-statx";
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
  unsigned char stx[256];
  if (fd < 0 || !raw_statx(fd, kStatxDioalign | kStatxWriteAtomic | kStatxDioReadAlign, stx)) {
    env.info["statx_write_atomic_reason"] = env.info["statx_dio_read_align_reason"] =
        "statx of an O_DIRECT scratch file: " + errno_name(errno);
  } else {
    env.facts["statx_write_atomic"] = (u32_at(stx, kMask) & kStatxWriteAtomic) != 0;
    env.facts["statx_dio_read_align"] = (u32_at(stx, kMask) & kStatxDioReadAlign) != 0;
  }
  if (fd >= 0) close(fd);
  unlink(path.c_str());
}

// O_DIRECT RWF_NOWAIT on the scratch filesystem through preadv2/pwritev2:
// a read over clean cached pages (refused with EAGAIN while iomap checked
// filemap_range_has_page(), accepted since "iomap: use
// filemap_range_needs_writeback() for O_DIRECT reads", Linux 5.15), and an
// overwrite of written blocks after the cache was dropped and the file's
// times were set in the past, so the write must update them: refused where
// the write path will not block for a timestamp update under IOCB_NOWAIT.
void probe_dio_nowait(Environment& env, const std::string& scratch) {
  std::string path = scratch + "/.probe-dio-nowait";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  std::vector<uint8_t> b(8192);
  fill_pattern(b.data(), b.size(), kFileSeed, 0);
  bool ok = fd >= 0 && write(fd, b.data(), b.size()) == 8192 && fsync(fd) == 0 && pread(fd, b.data(), 8192, 0) == 8192;
  int dfd = ok ? open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC) : -1;
  if (dfd < 0) {
    env.info["dio_nowait_clean_read_reason"] = env.info["dio_nowait_overwrite_reason"] = "no O_DIRECT probe file";
  } else {
    AlignedBuffer buf(4096, 4096);
    iovec iv{buf.data(), 4096};
    ssize_t r = preadv2(dfd, &iv, 1, 0, RWF_NOWAIT);
    int err = errno;
    decide(env, "dio_nowait_clean_read", r == 4096 ? 1 : r < 0 && err == EAGAIN ? 0 : 2,
           "preadv2(O_DIRECT, RWF_NOWAIT) over clean cached pages answered " + (r < 0 ? errno_name(err) : std::to_string(r)));
    posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED);
    timespec past[2] = {{1, 0}, {1, 0}};  // the write must update the times, as the row's (times = "stale")
    futimens(dfd, past);
    r = pwritev2(dfd, &iv, 1, 0, RWF_NOWAIT);
    err = errno;
    decide(env, "dio_nowait_overwrite", r == 4096 ? 1 : r < 0 && err == EAGAIN ? 0 : 2,
           "pwritev2(O_DIRECT, RWF_NOWAIT) overwrite answered " + (r < 0 ? errno_name(err) : std::to_string(r)));
    close(dfd);
  }
  if (fd >= 0) close(fd);
  unlink(path.c_str());
}

// Whether a forked child still has its parent's AIO ring mapped (the
// mapping copied on fork or not): io_setup, then mincore(2) of the ring page
// in a forked grandchild. libaio, which reads the ring in user space, depends
// on it; the kernel refuses the parent's context in the child either way.
void probe_ring_fork(Environment& env) {
  int a = child_answer([] {
    unsigned long ctx = 0;
    if (syscall(SYS_io_setup, 1, &ctx) != 0) return 2;
    int g = child_answer([ctx] {
      unsigned char v = 0;
      if (mincore(reinterpret_cast<void*>(ctx), 4096, &v) == 0) return 1;
      return errno == ENOMEM ? 0 : 2;
    });
    syscall(SYS_io_destroy, ctx);
    return g;
  });
  decide(env, "aio.ring_forked", a, "io_setup or mincore(2) of the ring in a forked child failed");
}

// Whether proc_doulongvec_minmax sysctls refuse a negative number (EINVAL,
// as 6.1 does) or skip it silently (kernel/sysctl.c
// __do_proc_doulongvec_minmax() of 5.10: "if (neg) continue"). Probed on
// kernel.shmmax, another proc_doulongvec_minmax sysctl: a negative number is
// never stored either way (before: skipped, after: refused); the value is
// read back. The write happens under the machine-wide settings lock with the
// original journalled (system::SysctlChange), so a kernel that did store it
// gets the original back on every path.
void probe_sysctl_negative(Environment& env) {
  const char* path = "/proc/sys/kernel/shmmax";
  // No case depends on kernel.shmmax, and the probe itself holds the
  // settings in use: waiting for their users would wait for itself.
  system::SysctlChange guard{system::kCaseLockWait, /*wait_for_users=*/false};
  if (std::string err = guard.set(path, system::read_sysctl(path)); !err.empty())
    return decide(env, "sysctl.ulong_negative_einval", 2, err);
  const std::string before = system::read_sysctl(path);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (before.empty() || fd < 0) return decide(env, "sysctl.ulong_negative_einval", 2, std::string("cannot open ") + path);
  ssize_t r = write(fd, "-1\n", 3);
  int err = errno;
  close(fd);
  const bool same = system::read_sysctl(path) == before;
  decide(env, "sysctl.ulong_negative_einval", !same ? 2 : r < 0 && err == EINVAL ? 1 : r == 3 ? 0 : 2,
         "writing -1 to kernel.shmmax answered " + (r < 0 ? errno_name(err) : std::to_string(r)) + (same ? "" : " and changed it"));
}

std::optional<int64_t> num(const std::map<std::string, Fact>& f, const char* k) {
  auto it = f.find(k);
  if (it == f.end()) return std::nullopt;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  return std::nullopt;
}

// A file target's probe file: 64 KiB of the file pattern, durable, so an
// O_DIRECT read has blocks to read.
std::string make_probe_file(const std::string& dir) {
  std::string path = dir + "/.aioh-aio-probe";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return "";
  std::vector<uint8_t> b(65536);
  fill_pattern(b.data(), b.size(), kFileSeed, 0);
  bool ok = write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok) unlink(path.c_str());
  return ok ? path : "";
}

// fs/fcntl.c setfl(): O_DIRECT through F_SETFL is refused (EINVAL) on a file
// without FMODE_CAN_ODIRECT, the check do_dentry_open() makes for open(2).
void probe_setfl(const std::string& path, std::map<std::string, Fact>& facts,
                 std::map<std::string, std::string>& info) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  int r = fl >= 0 ? fcntl(fd, F_SETFL, fl | O_DIRECT) : -1;
  int err = errno;
  if (r == 0) facts["dio_setfl"] = true;
  else if (fd >= 0 && fl >= 0 && err == EINVAL) facts["dio_setfl"] = false;
  else info["dio_setfl_reason"] = fmt::format("open/fcntl of {}: {}", path, errno_name(err));
  if (fd >= 0) close(fd);
}

// Before STATX_DIOALIGN the memory rule is probed: a pread into a buffer
// aligned to dma_alignment + 1 but not to the block size. The block layer
// accepts it since "block: relax direct io memory alignment" (b1a000d3b8ec,
// Linux 6.0); before, memory had to be block aligned.
void probe_mem_rule(int dfd, std::map<std::string, Fact>& facts, std::map<std::string, std::string>& info) {
  auto lbs = num(facts, "logical_block_size");
  auto dma = num(facts, "dma_alignment");
  auto it = facts.find("statx_dioalign");
  bool statx = it != facts.end() && std::get_if<bool>(&it->second) && std::get<bool>(it->second);
  if (statx || !lbs || !dma || *dma + 1 >= *lbs) return;
  AlignedBuffer buf(static_cast<size_t>(*lbs), 8192, static_cast<size_t>(*dma + 1));
  ssize_t r = pread(dfd, buf.data(), static_cast<size_t>(*lbs), 0);
  if (r == *lbs) {
    facts["dio_mem_relaxed"] = true;
    facts["dio_mem_align"] = *dma + 1;
  } else if (r < 0 && errno == EINVAL) {
    facts["dio_mem_relaxed"] = false;
    facts["dio_mem_align"] = *lbs;
    info["dio_align_source"] += " (memory: block aligned, probed)";
  } else {
    info["dio_mem_relaxed_reason"] = "pread into a dma-aligned buffer answered " + (r < 0 ? errno_name(errno) : std::to_string(r));
  }
}

// The alignment each iovec segment's length needs. Before Keith Busch's
// "block: simplify direct io validity check" / "iomap: simplify direct io
// validity check" (2025: on the 7.x guests and this repo's 6.18.44 host, not
// in Debian's 6.18.15) every segment of an O_DIRECT request had to be a
// multiple of the logical block size (block/fops.c blkdev_dio_invalid() and
// fs/iomap/direct-io.c via bdev_iter_is_aligned()); after it only the total
// is, and each segment follows the memory (DMA) alignment. Probed with a
// preadv(2) of two half-block segments.
void probe_seg_rule(int dfd, std::map<std::string, Fact>& facts, std::map<std::string, std::string>& info) {
  auto mem = num(facts, "dio_mem_align");
  auto off = num(facts, "dio_offset_align");
  if (!mem || !off) {
    info["dio_seg_align_reason"] = "no dio_mem_align/dio_offset_align";
    return;
  }
  if (*mem >= *off) {
    facts["dio_seg_align"] = *off;  // nothing between the two rules to tell apart
    return;
  }
  const size_t half = static_cast<size_t>(*off / 2);
  AlignedBuffer a(half, 4096), b(half, 4096);
  iovec iov[2] = {{a.data(), half}, {b.data(), half}};
  ssize_t r = preadv(dfd, iov, 2, 0);
  if (r == *off) facts["dio_seg_align"] = *mem;
  else if (r < 0 && errno == EINVAL) facts["dio_seg_align"] = *off;
  else info["dio_seg_align_reason"] = "preadv of two half-block segments answered " + (r < 0 ? errno_name(errno) : std::to_string(r));
}

// STATX_WRITE_ATOMIC limits of the target (0 where it reports none), and
// whether it answers STATX_DIO_READ_ALIGN (Linux 6.14; xfs, not ext4).
void probe_atomic_limits(int dfd, std::map<std::string, Fact>& facts) {
  unsigned char stx[256];
  facts["statx_dio_read_align"] = raw_statx(dfd, kStatxDioReadAlign, stx) && (u32_at(stx, kMask) & kStatxDioReadAlign);
  bool ok = raw_statx(dfd, kStatxWriteAtomic, stx) && (u32_at(stx, kMask) & kStatxWriteAtomic);
  facts["atomic_write_unit_min"] = ok ? static_cast<int64_t>(u32_at(stx, kAtomicMin)) : int64_t{0};
  facts["atomic_write_unit_max"] = ok ? static_cast<int64_t>(u32_at(stx, kAtomicMax)) : int64_t{0};
  facts["atomic_write_segments_max"] = ok ? static_cast<int64_t>(u32_at(stx, kAtomicSegs)) : int64_t{0};
}

}  // namespace

void probe_aio_target(const std::string& path, bool raw, std::map<std::string, Fact>& facts,
                      std::map<std::string, std::string>& info) {
  std::string file = raw ? path : make_probe_file(path);
  if (file.empty()) {
    for (const char* f : {"dio_setfl", "dio_seg_align", "dio_mem_relaxed"})
      info[std::string(f) + "_reason"] = "cannot write a probe file in " + path;
    return;
  }
  probe_setfl(file, facts, info);
  int dfd = open(file.c_str(), (raw ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
  if (dfd >= 0) {
    probe_mem_rule(dfd, facts, info);
    probe_seg_rule(dfd, facts, info);
    probe_atomic_limits(dfd, facts);
    close(dfd);
  } else {
    info["dio_seg_align_reason"] = "open(O_DIRECT) " + errno_name(errno);
  }
  if (!raw) unlink(file.c_str());
}

void probe_aio_behaviour(Environment& env, const std::string& scratch) {
  probe_eventfd(env);
  probe_eventfd_write(env);
  probe_dontcache(env, scratch);
  probe_nosignal(env);
  probe_ioprio_hints(env);
  probe_statx_masks(env, scratch);
  probe_dio_nowait(env, scratch);
  probe_ring_fork(env);
  probe_sysctl_negative(env);
  probe_aio_target(scratch, false, env.facts, env.info);
}

bool is_aio_target_fact(const std::string& name) {
  for (const char* n : {"dio_setfl", "dio_seg_align", "dio_mem_relaxed", "atomic_write_unit_min",
                        "atomic_write_unit_max", "atomic_write_segments_max", "statx_dio_read_align"})
    if (name == n) return true;
  return false;
}

bool is_aio_fact(const std::string& name) {
  for (const char* n : {"rwf.nowait.eventfd", "rwf.nowait.eventfd_write", "rwf.dontcache", "rwf.nosignal", "ioprio.hints",
                        "statx_write_atomic", "dio_nowait_clean_read", "dio_nowait_overwrite", "aio.ring_forked",
                        "sysctl.ulong_negative_einval"})
    if (name == n) return true;
  return is_aio_target_fact(name);
}

}  // namespace aioh
