// Creating, probing and tearing down the sweep's targets (see target.h).
// An orchestrator guest's disk is taken only after guest_disk_refusal()
// finds the orchestrator's label on it and the device guard's --device rules
// (system/device_guard.h) refuse nothing; it is the VM's own throwaway disk,
// so it is used as it is (no journal entry: the image is made anew for every
// boot).
// Loop devices come from system/loop_device.h (LOOP_CTL_GET_FREE + LOOP_CONFIGURE) with
// LO_FLAGS_AUTOCLEAR and are held open by the harness: if the harness dies,
// the last close detaches them by themselves; a mount left behind is undone
// from the journal by the next run or `harness --cleanup`, after which the
// loop under it goes too. Every artefact lives in the run's scratch dir.
#include "targets/target.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "errno_names.h"
#include "system/journal.h"
#include "probe_aio.h"
#include "subprocess.h"
#include "system/device_guard.h"
#include "system/loop_device.h"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif
#ifndef STATX_DIO_READ_ALIGN
#define STATX_DIO_READ_ALIGN 0x00020000U  // Linux 6.14
#endif
#ifndef BTRFS_SUPER_MAGIC
#define BTRFS_SUPER_MAGIC 0x9123683E
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

namespace aioh {
namespace {

constexpr int64_t kRawSize = 64ll << 20;
// mkfs.xfs refuses filesystems under 300 MiB; the file is sparse.
constexpr int64_t kFsSize = 512ll << 20;

// struct statx as of Linux 6.14, read by offset: glibc 2.36's struct lacks
// stx_dio_read_offset_align.
constexpr size_t kStxMask = 0, kStxDioMem = 152, kStxDioOffset = 156, kStxDioReadOffset = 180;

uint32_t u32_at(const unsigned char* b, size_t off) {
  uint32_t v;
  memcpy(&v, b + off, sizeof v);
  return v;
}

std::optional<int64_t> read_int(const std::string& path) {
  std::ifstream f(path);
  long long v;
  if (f >> v) return v;
  return std::nullopt;
}

std::string fs_type(const std::string& path) {
  struct statfs s {};
  if (statfs(path.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case EXT4_SUPER_MAGIC: return "ext4";
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case TMPFS_MAGIC: return "tmpfs";
    default: return fmt::format("fs-{:#x}", static_cast<unsigned long>(s.f_type));
  }
}

std::string find_tool(const std::string& name) {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t colon = path.find(':', start);
    std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

}  // namespace

bool is_target_fact(const std::string& name) {
  for (const char* n : {"dio_fallback", "dio_read_offset_align", "target_raw", "target_fs",
                        "target_size"})
    if (name == n) return true;
  return is_aio_target_fact(name);
}

TargetRecord Target::record() const { return {name, kind, fs, sector_size, device, dir, facts, info, reason}; }

namespace {

Target make_target(std::string name, std::string kind, std::string fs, int64_t sector) {
  Target t;
  t.name = std::move(name);
  t.kind = std::move(kind);
  t.fs = std::move(fs);
  t.sector_size = sector;
  return t;
}

// mkfs on each target's device, all at once (each its own device); a
// failure becomes the target's reason.
void make_filesystems(const std::vector<Target*>& ts) {
  std::vector<Target*> made;
  std::vector<std::vector<std::string>> argvs;
  for (Target* t : ts) {
    std::string mkfs = find_tool("mkfs." + t->fs);
    if (mkfs.empty()) {
      t->reason = fmt::format("mkfs.{} not found (install {})", t->fs,
                              t->fs == "xfs" ? "xfsprogs" : t->fs == "btrfs" ? "btrfs-progs" : "e2fsprogs");
      continue;
    }
    std::vector<std::string> argv = {mkfs};
    if (t->fs == "ext4") argv.insert(argv.end(), {"-q", "-F", "-b", "4096"});
    else argv.insert(argv.end(), {"-q", "-f"});
    argv.push_back(t->device);
    made.push_back(t);
    argvs.push_back(std::move(argv));
  }
  std::vector<std::string> errs = run_tools(argvs);
  for (size_t i = 0; i < made.size(); i++) {
    if (errs[i].empty()) continue;
    // Once more after a pause: seen once in a guest, mkfs.xfs refusing a disk
    // that had only just appeared.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (std::string again = run_tool(argvs[i]); !again.empty()) made[i]->reason = again;
  }
}

}  // namespace

std::vector<Target> default_targets() {
  if (const char* spec = getenv("AIOH_GUEST_DISKS")) return guest_targets(spec);
  return {make_target("loop-512", "raw", "", 512),    make_target("loop-4096", "raw", "", 4096),
          make_target("ext4-512", "fs", "ext4", 512), make_target("xfs-4096", "fs", "xfs", 4096),
          make_target("btrfs-4096", "fs", "btrfs", 4096), make_target("tmpfs", "tmpfs", "tmpfs", 0),
          make_target("scratch", "scratch", "", 0)};
}

std::vector<Target> guest_targets(const std::string& spec) {
  std::vector<Target> v;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string what = item.substr(0, eq), dev = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (dev.empty() || (what != "raw" && what != "ext4" && what != "xfs" && what != "btrfs"))
      throw std::invalid_argument(fmt::format("AIOH_GUEST_DISKS: bad entry '{}' (want raw|ext4|xfs|btrfs=/dev/X)", item));
    Target t = what == "raw" ? make_target("disk", "raw", "", 0) : make_target("disk-" + what, "fs", what, 0);
    t.guest_disk = dev;
    v.push_back(std::move(t));
  }
  v.push_back(make_target("loop-512", "raw", "", 512));
  v.push_back(make_target("loop-4096", "raw", "", 4096));
  v.push_back(make_target("tmpfs", "tmpfs", "tmpfs", 0));
  return v;
}

std::string guest_disk_refusal(const std::string& dev) {
  if (!getenv("AIOH_VM_GUEST"))
    return fmt::format("guest disk {}: not in an orchestrator guest (AIOH_VM_GUEST unset); a host's disks are "
                       "never targets unless named with --device --destructive", dev);
  struct stat st {};
  if (stat(dev.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return fmt::format("guest disk {}: not a block device", dev);
  char label[sizeof kGuestDiskLabel - 1] = {};
  int fd = open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t got = fd < 0 ? -1 : pread(fd, label, sizeof label, 0);
  if (fd >= 0) close(fd);
  if (got != static_cast<ssize_t>(sizeof label) || memcmp(label, kGuestDiskLabel, sizeof label) != 0)
    return fmt::format("guest disk {}: no orchestrator label at offset 0 (not a disk vm/ made)", dev);
  // Mounted, swap, held, a member, or the root filesystem's disk: the same
  // rules as --device.
  if (std::string why = system::device_refusal(dev); !why.empty()) return fmt::format("guest disk {}: {}", dev, why);
  return "";
}

Target dir_target(const std::string& path) {
  Target t;
  t.name = "dir";
  t.kind = "dir";
  t.user_path = path;
  t.fs = fs_type(path);
  return t;
}

Target device_target(const std::string& path) {
  Target t;
  t.name = t.kind = "device";
  t.user_path = path;
  return t;
}

bool target_selected(const std::string& sel, const Target& t) {
  return sel == "all" || sel == t.name || sel == t.kind || (!t.fs.empty() && sel == t.fs) ||
         (sel == "files" && !t.raw()) || (sel == "blockdev" && t.raw());
}

Environment overlay(const Environment& env, const Target& t) {
  Environment e = env;
  // The scratch probe's geometry must not leak into a target that lacks a
  // fact (tmpfs reports no alignment at all).
  for (const char* k : {"dio", "statx_dioalign", "dio_mem_align", "dio_offset_align", "logical_block_size",
                        "dma_alignment"})
    e.facts.erase(k);
  for (auto& [k, v] : t.facts) e.facts[k] = v;
  return e;
}

const Target* TargetSet::find(const std::string& name) const {
  for (auto& t : targets_)
    if (t.name == name) return &t;
  return nullptr;
}

nlohmann::json TargetSet::to_json() const {
  nlohmann::json a = nlohmann::json::array();
  for (auto& t : targets_) a.push_back(aioh::to_json(t.record()));
  return a;
}

void TargetSet::create(const std::vector<std::string>& wanted, const std::string& scratch_dir,
                       std::vector<std::string>* log) {
  Journal::run_journal().declare_root(scratch_dir);  // what is undone must lie below it
  std::vector<Target*> used;
  for (auto& t : targets_) {
    if (std::find(wanted.begin(), wanted.end(), t.name) == wanted.end()) t.reason = "not used by this run";
    else used.push_back(&t);
  }
  // The devices one after another (LOOP_CTL_GET_FREE races with another
  // maker), then every filesystem made at once, each on its own device
  // (mkfs is most of the time before the first case), then the mounts.
  for (Target* t : used) create_one(*t, scratch_dir);
  // Two targets on one device (a guest's namespace name that resolved twice)
  // would be formatted at once: the later one is refused.
  std::map<dev_t, const Target*> device_of;
  for (Target* t : used) {
    struct stat st {};
    if (!t->reason.empty() || t->device.empty() || stat(t->device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;
    if (auto [first, fresh] = device_of.emplace(st.st_rdev, t); !fresh)
      t->reason = fmt::format("{} is the device of target {} too", t->device, first->second->name);
  }
  std::vector<Target*> fs;
  for (Target* t : used)
    if (t->reason.empty() && t->kind == "fs") fs.push_back(t);
  make_filesystems(fs);
  for (Target* t : fs)
    if (t->reason.empty()) mount_new_fs(*t, scratch_dir);
  for (Target* t : used) {
    if (t->reason.empty()) probe(*t);
    if (log)
      log->push_back(t->reason.empty() ? fmt::format("target {}: ready ({})", t->name, t->dir.empty() ? t->device : t->dir)
                                       : fmt::format("target {}: unavailable: {}", t->name, t->reason));
  }
}

std::string TargetSet::mkdir_in_scratch(Target& t, const std::string& scratch, const std::string& name) {
  std::string d = scratch + "/" + name;
  if (mkdir(d.c_str(), 0700) != 0) t.reason = fmt::format("mkdir {}: {}", d, errno_name(errno));
  return d;
}

void TargetSet::create_one(Target& t, const std::string& scratch) {
  if (t.needs_root() && geteuid() != 0) {
    t.reason = fmt::format("needs root to create loop devices and mounts (running as uid {})", geteuid());
    return;
  }
  if (t.kind == "scratch") {
    t.dir = mkdir_in_scratch(t, scratch, "target-scratch");
    t.fs = fs_type(t.dir);
  } else if (t.kind == "dir") {
    make_private_dir(t);
  } else if (t.kind == "device") {
    claim_user_device(t);
  } else if (t.kind == "tmpfs") {
    mount_tmpfs(t, scratch);
  } else {
    // raw and fs: the orchestrator's disk in a guest, else a loop device
    // over a sparse file in the scratch dir (create() makes and mounts an
    // fs target's filesystem on it).
    if (t.guest_disk.empty()) attach_loop(t, scratch);
    else take_guest_disk(t);
  }
}

namespace {

// `path` claimed for the run (system::claim_device): its fd, or -1 with
// t.reason saying why, `what` naming the device.
int claim_for_run(Target& t, const std::string& path, const std::string& what) {
  int fd = -1;
  if (std::string why = system::claim_device(path, &fd); !why.empty()) {
    t.reason = fmt::format("{} refused: {}", what, why);
    return -1;
  }
  return fd;
}

}  // namespace

void TargetSet::claim_user_device(Target& t) {
  struct stat st {};
  if (stat(t.user_path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    t.reason = fmt::format("--device {}: not a block device", t.user_path);
    return;
  }
  // Refused when mounted, swap, held, a member, or the root fs's device
  // (--destructive does not override it); held with O_EXCL for the run.
  int fd = claim_for_run(t, t.user_path, "--device " + t.user_path);
  if (fd < 0) return;
  held_fds_.push_back(fd);
  t.device = t.user_path;
}

std::string TargetSet::user_device_refusal() const {
  for (const Target& t : targets_)
    if (!t.user_path.empty() && !t.reason.empty()) return t.reason;
  return "";
}

void TargetSet::take_guest_disk(Target& t) {
  if (std::string why = guest_disk_refusal(t.guest_disk); !why.empty()) {
    t.reason = why;
    return;
  }
  // A raw disk is held with O_EXCL for the run as --device is; a disk that
  // gets a filesystem is claimed by mkfs and then by its mount, which an
  // O_EXCL hold of ours would refuse (EBUSY).
  if (t.kind == "raw") {
    int fd = claim_for_run(t, t.guest_disk, "guest disk " + t.guest_disk);
    if (fd < 0) return;
    held_fds_.push_back(fd);
  }
  t.device = t.guest_disk;
}

void TargetSet::make_private_dir(Target& t) {
  struct stat st {};
  if (stat(t.user_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    t.reason = fmt::format("--target {}: not a directory", t.user_path);
    return;
  }
  // A private subdirectory, journalled before it exists; the user's own
  // directory is never removed.
  Journal& j = Journal::run_journal();
  std::random_device rd;
  char real[PATH_MAX];
  std::string base = realpath(t.user_path.c_str(), real) ? real : t.user_path;
  t.dir = fmt::format("{}/aioharness-{}-{:08x}", base == "/" ? "" : base, getpid(), rd());
  long id = j.add_scratch_root(t.dir);
  if (mkdir(t.dir.c_str(), 0700) != 0) {
    t.reason = fmt::format("mkdir {}: {}", t.dir, errno_name(errno));
    j.done(id);
    return;
  }
  undo_.push_back({id, static_cast<int>(UndoKind::remove_tree), {t.dir}});
}

void TargetSet::mount_tmpfs(Target& t, const std::string& scratch) {
  std::string mp = mkdir_in_scratch(t, scratch, "target-tmpfs");
  if (!t.reason.empty()) return;
  Journal& j = Journal::run_journal();
  long id = j.record(UndoKind::umount, {mp});
  if (mount("aioh-tmpfs", mp.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0700") != 0) {
    t.reason = fmt::format("mount tmpfs on {}: {}", mp, errno_name(errno));
    j.done(id);
    return;
  }
  undo_.push_back({id, static_cast<int>(UndoKind::umount), {mp}});
  t.dir = mp;
}

void TargetSet::attach_loop(Target& t, const std::string& scratch) {
  t.backing = scratch + "/target-" + t.name + ".img";
  int bfd = open(t.backing.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (bfd < 0 || ftruncate(bfd, t.kind == "fs" ? kFsSize : kRawSize) != 0) {
    t.reason = fmt::format("create backing file {}: {}", t.backing, errno_name(errno));
    if (bfd >= 0) close(bfd);
    return;
  }
  using system::LoopDevice;
  LoopDevice d = system::attach_loop(bfd, t.backing, {.block_size = static_cast<unsigned>(t.sector_size), .autoclear = true, .attempts = 16});
  close(bfd);
  switch (d.failed) {
    case LoopDevice::none:
      t.device = d.path;
      held_fds_.push_back(d.fd);
      undo_.push_back({d.journal_id, static_cast<int>(UndoKind::loop_detach), {d.path, t.backing, std::to_string(d.fd)}});
      break;
    case LoopDevice::control: t.reason = fmt::format("open /dev/loop-control: {}", errno_name(d.err)); break;
    case LoopDevice::get_free: t.reason = fmt::format("LOOP_CTL_GET_FREE: {}", errno_name(d.err)); break;
    case LoopDevice::open_device: t.reason = fmt::format("open {}: {}", d.path, errno_name(d.err)); break;
    case LoopDevice::configure:
      t.reason = d.err == EBUSY ? "no free loop device after 16 attempts"
                                : fmt::format("LOOP_CONFIGURE {} (block_size {}): {}", d.path, t.sector_size, errno_name(d.err));
      break;
  }
}

void TargetSet::mount_new_fs(Target& t, const std::string& scratch) {
  std::string mp = mkdir_in_scratch(t, scratch, "target-" + t.name);
  if (!t.reason.empty()) return;
  Journal& j = Journal::run_journal();
  long id = j.record(UndoKind::umount, {mp});
  if (mount(t.device.c_str(), mp.c_str(), t.fs.c_str(), MS_NOSUID | MS_NODEV, nullptr) != 0) {
    t.reason = fmt::format("mount {} ({}) on {}: {}", t.device, t.fs, mp, errno_name(errno));
    j.done(id);
    return;
  }
  undo_.push_back({id, static_cast<int>(UndoKind::umount), {mp}});
  t.dir = mp;
}

void TargetSet::probe(Target& t) {
  t.facts["target_raw"] = t.raw();
  t.facts["target_fs"] = t.fs.empty() ? std::string("none") : t.fs;
  std::string path = t.raw() ? t.device : t.dir + "/.aioh-geometry";
  int fd = t.raw() ? open(path.c_str(), O_RDWR | O_CLOEXEC) : open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  // Whether the target takes O_DIRECT, asked through fcntl(F_SETFL), not
  // through the open(O_DIRECT) the sweep's rows test: the kernel answers it
  // from the file's own capability (fs/fcntl.c setfl(): FMODE_CAN_ODIRECT,
  // before 6.x a ->direct_IO method), so a refusal the rows observe at open
  // (tmpfs before 6.6) is predicted by an independent call.
  if (fd < 0) {
    t.facts["dio"] = false;
    t.info["dio_reason"] = fmt::format("open {}: {}", path, errno_name(errno));
  } else if (int fl = fcntl(fd, F_GETFL); fcntl(fd, F_SETFL, fl | O_DIRECT) != 0) {
    t.facts["dio"] = false;
    t.info["dio_reason"] = fmt::format("fcntl(F_SETFL, O_DIRECT) on {}: {}", path, errno_name(errno));
  } else {
    t.facts["dio"] = true;
  }
  if (t.raw() && fd >= 0) {
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) == 0) t.facts["target_size"] = static_cast<int64_t>(size);
  }

  unsigned char stx[256] = {};
  bool have = false, have_read = false;
  if (fd >= 0 && syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN | STATX_DIO_READ_ALIGN, stx) == 0) {
    uint32_t mask = u32_at(stx, kStxMask);
    have = (mask & STATX_DIOALIGN) && u32_at(stx, kStxDioOffset) != 0;
    have_read = (mask & STATX_DIO_READ_ALIGN) && u32_at(stx, kStxDioReadOffset) != 0;
  }
  t.facts["statx_dioalign"] = have;

  // The block device behind it: the loop under a filesystem (btrfs reports
  // an anonymous st_dev), the device itself, or st_dev of a directory.
  std::string sys;
  struct stat st {};
  if (!t.device.empty() && stat(t.device.c_str(), &st) == 0)
    sys = fmt::format("/sys/dev/block/{}:{}", major(st.st_rdev), minor(st.st_rdev));
  else if (fd >= 0 && fstat(fd, &st) == 0 && major(st.st_dev) != 0)
    sys = fmt::format("/sys/dev/block/{}:{}", major(st.st_dev), minor(st.st_dev));
  std::optional<int64_t> lbs, dma;
  if (!sys.empty()) {
    lbs = read_int(sys + "/queue/logical_block_size");
    if (!lbs) lbs = read_int(sys + "/../queue/logical_block_size");  // a partition
    dma = read_int(sys + "/queue/dma_alignment");
    if (!dma) dma = read_int(sys + "/../queue/dma_alignment");
  }
  if (lbs) t.facts["logical_block_size"] = *lbs;
  if (dma) t.facts["dma_alignment"] = *dma;

  if (have) {
    t.facts["dio_mem_align"] = static_cast<int64_t>(u32_at(stx, kStxDioMem));
    t.facts["dio_offset_align"] = static_cast<int64_t>(u32_at(stx, kStxDioOffset));
    t.info["dio_align_source"] = "statx(STATX_DIOALIGN)";
  } else if (lbs) {
    // The block layer's rule without STATX_DIOALIGN: memory aligned to
    // dma_alignment + 1, offsets and lengths to the logical block size. A
    // kernel without queue/dma_alignment in sysfs (it came with the relaxed
    // memory rule, block/fops.c blkdev_dio_invalid()) checks memory against
    // the logical block size too (5.10 fs/block_dev.c, fs/iomap/direct-io.c:
    // (pos | iov_iter_alignment()) & (logical block size - 1)).
    t.facts["dio_mem_align"] = dma ? *dma + 1 : *lbs;
    t.facts["dio_offset_align"] = *lbs;
    t.info["dio_align_source"] = dma ? "sysfs logical_block_size and dma_alignment" : "sysfs logical_block_size";
    // XFS refuses direct writes not aligned to its own sector size, which
    // mkfs.xfs takes from the physical block size (fs/xfs/xfs_file.c
    // xfs_file_dio_write: bt_logical_sectormask); it says so through
    // XFS_IOC_DIOINFO (d_miniosz) where statx cannot.
    struct { uint32_t d_mem, d_miniosz, d_maxiosz; } dio{};
    if (t.fs == "xfs" && fd >= 0 && ioctl(fd, _IOR('X', 30, decltype(dio)), &dio) == 0 && dio.d_miniosz > 0) {
      t.facts["dio_offset_align"] = static_cast<int64_t>(dio.d_miniosz);
      t.info["dio_align_source"] += " and XFS_IOC_DIOINFO";
    }
  } else {
    t.info["dio_align_source"] = "none reported";
  }
  if (have_read) {
    t.facts["dio_read_offset_align"] = static_cast<int64_t>(u32_at(stx, kStxDioReadOffset));
  } else if (t.fs == "xfs" && lbs) {
    // XFS reads have no sector-size check of their own: iomap checks the
    // device's logical block size (xfs_file_dio_read -> iomap_dio_rw), which
    // is why STATX_DIO_READ_ALIGN exists (Linux 6.14).
    t.facts["dio_read_offset_align"] = *lbs;
  } else if (t.facts.count("dio_offset_align")) {
    t.facts["dio_read_offset_align"] = t.facts["dio_offset_align"];
  }

  // Filesystems whose O_DIRECT path hands a misaligned request to buffered
  // I/O instead of refusing it: btrfs (fs/btrfs/direct-io.c:
  // check_direct_IO() failing makes btrfs_direct_write() "goto buffered" and
  // btrfs_direct_read() return 0 so the read continues buffered) and tmpfs
  // (mm/shmem.c: O_DIRECT accepted since Linux 6.6, all I/O through the page
  // cache). A property of the filesystem's code, not probed with the call
  // under test; the sweep verifies the data such requests move.
  t.facts["dio_fallback"] = t.fs == "btrfs" || t.fs == "tmpfs";
  if (fd >= 0) close(fd);
  if (!t.raw()) unlink(path.c_str());
  probe_aio_target(t.raw() ? t.device : t.dir, t.raw(), t.facts, t.info);  // probe_aio.cc
}

std::vector<std::string> TargetSet::teardown() {
  std::vector<std::string> errors;
  Journal& j = Journal::run_journal();
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    auto kind = static_cast<UndoKind>(it->kind);
    std::vector<std::string> args = it->args;
    if (kind == UndoKind::loop_detach) {
      // Our hold goes first: with LO_FLAGS_AUTOCLEAR the last close detaches.
      int held = std::stoi(args[2]);
      std::erase(held_fds_, held);
      close(held);
      args.resize(2);
    }
    std::string err = Journal::undo(kind, args);
    if (err.empty()) j.done(it->journal_id);
    else errors.push_back(err);
  }
  undo_.clear();
  for (int fd : held_fds_) close(fd);
  held_fds_.clear();
  return errors;
}

}  // namespace aioh
