// Block-level faults for real, made for one case inside a VM guest: a
// null_blk device with bad blocks (configfs `badblocks`) or a completion
// delay (irqmode=2, completion_nsec), a scsi_debug disk whose medium-error
// range fails reads (opts bit SDEBUG_OPT_MEDIUM_ERR), and device-mapper
// error / flakey / delay tables loaded through DM_DEV_CREATE, DM_TABLE_LOAD
// and DM_DEV_SUSPEND (the guest has no dmsetup). The scenario is handed the
// raw block device. Every module loaded, mount, nullb item, loop device and
// dm device is journalled before it exists and undone after the case, so a
// killed case leaves nothing. Proof the fault fired is read back from the
// kernel: the block layer's "<error>, dev X, sector N" log line (or a direct
// probe read of the faulty range), the disks' own I/O counters in
// /sys/block/X/stat (a flakey write that reached dm but not the disk below;
// the time requests spent in a delaying device).
#include "faults/block.h"

#include <fcntl.h>
#include <glob.h>
#include <liburing.h>
#include <signal.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "errno_names.h"
#include "system/journal.h"
#include "system/loop_device.h"
#include "system/settings.h"
#include "pattern.h"
#include "subprocess.h"

namespace aioh::faults {
namespace {

// What the scenario's prefill covers: the rows work in the first 128 KiB.
constexpr size_t kPrefill = 128 << 10;
constexpr uint64_t kDeviceMiB = 4;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// "" or why the write failed (configfs and sysfs answer through write()).
std::string put(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fmt::format("open {}: {}", path, strerror(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) return fmt::format("write '{}' to {}: {}", value, path, strerror(e));
  return "";
}

// /sys/block/X/stat (Documentation/block/stat.rst): read I/Os, ..., read
// ticks (ms), write I/Os, ..., write ticks (ms).
struct Stat {
  uint64_t rd_ios = 0, rd_ticks = 0, wr_ios = 0, wr_ticks = 0;
};
Stat read_stat(const std::string& disk) {
  Stat s;
  std::istringstream is(slurp("/sys/block/" + disk + "/stat"));
  uint64_t v[8] = {};
  for (auto& x : v) is >> x;
  s.rd_ios = v[0];
  s.rd_ticks = v[3];
  s.wr_ios = v[4];
  s.wr_ticks = v[7];
  return s;
}

struct Made {
  FaultSpec spec;
  std::string case_dir;
  std::string disk, node;             // the faulty disk (nullb3, sdb, dm-2) and its node
  std::string under_disk, loop_dev, loop_backing;
  std::string dm_name, dm_err_name, nullb_dir, configfs_mnt;
  long dm_err_id = -1, dm_id = -1, nullb_id = -1, loop_id = -1, configfs_id = -1;
  std::vector<std::pair<std::string, long>> modules;  // loaded here, in load order
  int kmsg = -1;
  Stat before, under_before;
  SectorRange range;
  uint64_t delay_ms = 0, ioerr_before = 0;
  bool active = false;
};
Made g;

struct Fail {
  Installed::Kind kind;
  std::string reason;
};

// Loads `module` unless it is already there; journalled before modprobe.
void load_module(const std::string& module, const std::vector<std::string>& params = {}) {
  if (exists("/sys/module/" + module)) return;
  // One owner per global setting: held until this case's process exits.
  if (std::string e = system::acquire_settings_lock("module " + module, nullptr, system::kCaseLockWait); !e.empty()) throw Fail{Installed::broken, e};
  if (exists("/sys/module/" + module)) return;  // loaded meanwhile by the run that held the lock
  long id = Journal::run_journal().record(UndoKind::module_unload, {module});
  std::vector<std::string> argv = {"modprobe", module};
  argv.insert(argv.end(), params.begin(), params.end());
  std::string err = run_tool(argv);
  if (!exists("/sys/module/" + module)) {
    Journal::run_journal().done(id);
    // Built in without a /sys/module entry: modprobe succeeds and nothing is ours.
    if (err.empty()) return;
    throw Fail{Installed::skip, err};
  }
  g.modules.emplace_back(module, id);
}

// The disk's node: /dev/X from devtmpfs, else one made in the case directory.
std::string node_for(const std::string& disk) {
  std::string devno = trim(slurp("/sys/block/" + disk + "/dev"));
  unsigned maj = 0, min = 0;
  if (sscanf(devno.c_str(), "%u:%u", &maj, &min) != 2) throw Fail{Installed::broken, "no /sys/block/" + disk + "/dev"};
  struct stat sb {};
  std::string dev = "/dev/" + disk;
  if (stat(dev.c_str(), &sb) == 0 && S_ISBLK(sb.st_mode) && sb.st_rdev == makedev(maj, min)) return dev;
  std::string mine = g.case_dir + "/" + disk;
  if (mknod(mine.c_str(), S_IFBLK | 0600, makedev(maj, min)) != 0)
    throw Fail{Installed::broken, fmt::format("mknod {}: {}", mine, strerror(errno))};
  return mine;
}

// The first kPrefill bytes get the scratch pattern, written past the page
// cache, which is then dropped so the case's reads reach the device.
void prefill(const std::string& node) {
  int fd = open(node.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) throw Fail{Installed::broken, fmt::format("open {}: {}", node, strerror(errno))};
  AlignedBuffer buf(64 << 10);
  for (size_t off = 0; off < kPrefill; off += buf.size()) {
    fill_pattern(buf.data(), buf.size(), kFileSeed, off);
    if (pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(buf.size())) {
      int e = errno;
      close(fd);
      throw Fail{Installed::broken, fmt::format("prefill {} at {}: {}", node, off, strerror(e))};
    }
  }
  fsync(fd);
  ioctl(fd, BLKFLSBUF, 0);
  close(fd);
}

void make_nullb() {
  load_module("configfs");
  const std::string cfg = "/sys/kernel/config";
  if (!exists(cfg + "/nullb")) {
    // configfs lives at /sys/kernel/config; mount it there if nobody has.
    std::string mounts = slurp("/proc/mounts");
    if (mounts.find(" " + cfg + " configfs ") == std::string::npos) {
      g.configfs_id = Journal::run_journal().record(UndoKind::umount, {cfg});
      if (mount("configfs", cfg.c_str(), "configfs", 0, nullptr) != 0) {
        Journal::run_journal().done(g.configfs_id);
        g.configfs_id = -1;
        throw Fail{Installed::skip, std::string("cannot mount configfs: ") + strerror(errno)};
      }
      g.configfs_mnt = cfg;
    }
  }
  load_module("null_blk", {"nr_devices=0"});
  if (!exists(cfg + "/nullb")) throw Fail{Installed::skip, "null_blk has no configfs interface (" + cfg + "/nullb)"};
  g.nullb_dir = fmt::format("{}/nullb/aioh-{}", cfg, getpid());
  g.nullb_id = Journal::run_journal().record(UndoKind::nullb_remove, {g.nullb_dir});
  if (mkdir(g.nullb_dir.c_str(), 0755) != 0) {
    Journal::run_journal().done(g.nullb_id);
    g.nullb_id = -1;
    throw Fail{Installed::broken, fmt::format("mkdir {}: {}", g.nullb_dir, strerror(errno))};
  }
  // Documentation/block/null_blk.rst: size in MB, memory_backed keeps the
  // data, irqmode=2 completes through a timer after completion_nsec.
  std::vector<std::pair<std::string, std::string>> attrs = {
      {"size", std::to_string(kDeviceMiB)}, {"blocksize", "512"}, {"memory_backed", "1"}};
  if (g.spec.target == "null_blk-delay") {
    attrs.push_back({"irqmode", "2"});
    attrs.push_back({"completion_nsec", std::to_string(g.delay_ms * 1000000)});
  }
  attrs.push_back({"power", "1"});
  for (auto& [k, v] : attrs)
    if (auto e = put(g.nullb_dir + "/" + k, v); !e.empty()) throw Fail{Installed::skip, "null_blk configfs: " + e};
  // The disk is nullb<index>, or (newer kernels) named after the configfs item.
  std::string index = trim(slurp(g.nullb_dir + "/index"));
  std::string item = g.nullb_dir.substr(g.nullb_dir.rfind('/') + 1);
  g.disk = exists("/sys/block/" + item) ? item : "nullb" + index;
  if (!exists("/sys/block/" + g.disk)) throw Fail{Installed::broken, "null_blk: no disk " + g.disk + " or " + item + " after power=1"};
  g.node = node_for(g.disk);
  prefill(g.node);
  if (g.spec.target == "null_blk-badblocks") {
    if (!exists(g.nullb_dir + "/badblocks")) throw Fail{Installed::skip, "null_blk has no configfs badblocks attribute here"};
    if (auto e = put(g.nullb_dir + "/badblocks", fmt::format("+{}-{}", g.range.first, g.range.last)); !e.empty())
      throw Fail{Installed::broken, e};
  }
}

uint64_t scsi_ioerr_cnt();

// The disk scsi_debug's one host gets (the SCSI scan may finish after modprobe).
std::string scsi_debug_disk() {
  for (int i = 0; i < 200; i++) {
    glob_t gl{};
    std::string disk;
    if (glob("/sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*:*/block/*", 0, nullptr, &gl) == 0 &&
        gl.gl_pathc > 0)
      disk = std::string(gl.gl_pathv[0]).substr(std::string(gl.gl_pathv[0]).rfind('/') + 1);
    globfree(&gl);
    if (!disk.empty() && exists("/sys/block/" + disk + "/dev")) return disk;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

void make_scsi_debug() {
  if (exists("/sys/module/scsi_debug")) throw Fail{Installed::skip, "scsi_debug is already loaded: not this case's to configure"};
  load_module("sd_mod");
  // drivers/scsi/scsi_debug.c: medium_error_start/medium_error_count (LBAs)
  // bound the range resp_read_dt0() fails while opts has SDEBUG_OPT_MEDIUM_ERR (2).
  load_module("scsi_debug", {"dev_size_mb=" + std::to_string(kDeviceMiB), "sector_size=512", "opts=0",
                             "medium_error_start=" + std::to_string(g.range.first),
                             "medium_error_count=" + std::to_string(g.range.last - g.range.first + 1)});
  g.disk = scsi_debug_disk();
  if (g.disk.empty()) throw Fail{Installed::broken, "scsi_debug loaded but no disk appeared within 10 s"};
  g.node = node_for(g.disk);
  prefill(g.node);
  g.ioerr_before = scsi_ioerr_cnt();
  if (auto e = put("/sys/bus/pseudo/drivers/scsi_debug/opts", "2"); !e.empty()) throw Fail{Installed::broken, e};
}

void make_loop() {
  load_module("loop");
  g.loop_backing = g.case_dir + "/under.img";
  int bfd = open(g.loop_backing.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (bfd < 0 || ftruncate(bfd, kDeviceMiB << 20) != 0) throw Fail{Installed::broken, "cannot create the loop backing file"};
  system::LoopDevice loop = system::attach_loop(bfd, g.loop_backing, {});
  close(bfd);
  if (loop.failed == system::LoopDevice::control || loop.failed == system::LoopDevice::get_free)
    throw Fail{Installed::skip, "no free loop device for the device under dm"};
  if (!loop.ok()) throw Fail{Installed::skip, fmt::format("LOOP_CONFIGURE {}: {}", loop.path, strerror(loop.err))};
  close(loop.fd);  // detached by teardown (the journal's loop_detach), not by a last close
  g.loop_dev = loop.path;
  g.loop_id = loop.journal_id;
  g.under_disk = fmt::format("loop{}", loop.number);
  prefill(g.loop_dev);
}

void make_dm() {
  load_module("dm_mod");
  if (g.spec.target == "dm-flakey") load_module("dm_flakey");
  if (g.spec.target == "dm-delay") load_module("dm_delay");
  std::string under;
  if (g.spec.target != "dm-error") {
    make_loop();
    under = trim(slurp("/sys/block/" + g.under_disk + "/dev"));
  }
  uint64_t sectors = (kDeviceMiB << 20) / 512;
  uint64_t dev = 0;
  if (g.spec.target == "dm-error") {
    // dm accounts no bio the error target kills, so the case's device is a
    // linear one over it: its counters show the I/O that went to the error.
    g.dm_err_name = fmt::format("aioh-{}-err", getpid());
    g.dm_err_id = Journal::run_journal().record(UndoKind::dm_remove, {g.dm_err_name});
    if (auto e = dm_create(g.dm_err_name, &dev); !e.empty()) {
      Journal::run_journal().done(g.dm_err_id);
      g.dm_err_id = -1;
      throw Fail{Installed::skip, e};
    }
    if (auto e = dm_load_and_resume(g.dm_err_name, {dm_table_for(g.spec.target, g.spec.effect, "", sectors)}); !e.empty())
      throw Fail{Installed::broken, e};
    under = fmt::format("{}:{}", major(static_cast<dev_t>(dev)), minor(static_cast<dev_t>(dev)));
  }
  g.dm_name = fmt::format("aioh-{}", getpid());
  g.dm_id = Journal::run_journal().record(UndoKind::dm_remove, {g.dm_name});
  if (auto e = dm_create(g.dm_name, &dev); !e.empty()) {
    Journal::run_journal().done(g.dm_id);
    g.dm_id = -1;
    throw Fail{Installed::skip, e};
  }
  DmTarget t = g.spec.target == "dm-error" ? DmTarget{0, sectors, "linear", under + " 0"}
                                           : dm_table_for(g.spec.target, g.spec.effect, under, sectors);
  if (auto e = dm_load_and_resume(g.dm_name, {t}); !e.empty()) throw Fail{Installed::broken, e};
  g.disk = fmt::format("dm-{}", minor(static_cast<dev_t>(dev)));
  g.node = node_for(g.disk);
}

// Kernel log lines about the disk since install: the block layer's
// "<status> error, dev X, sector N" (blk_print_req_error) and SCSI sense.
std::vector<std::string> kmsg_lines_for(const std::string& disk) {
  std::vector<std::string> out;
  if (g.kmsg < 0) return out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(g.kmsg, buf, sizeof buf - 1);
    if (n < 0 && errno == EPIPE) continue;
    if (n <= 0) break;
    std::string rec(buf, static_cast<size_t>(n));
    auto semi = rec.find(';');
    std::string msg = trim(semi == std::string::npos ? rec : rec.substr(semi + 1, rec.find('\n') - semi - 1));
    if (msg.find("dev " + disk + ",") != std::string::npos && msg.find("error") != std::string::npos)
      out.push_back(msg);
  }
  return out;
}

void append_detail(FaultState* st, const std::string& text) {
  size_t len = strnlen(st->detail, sizeof st->detail);
  snprintf(st->detail + len, sizeof st->detail - len, "%s%s", len ? "; " : "", text.c_str());
}

uint64_t scsi_ioerr_cnt() {
  return strtoull(trim(slurp("/sys/block/" + g.disk + "/device/ioerr_cnt")).c_str(), nullptr, 0);
}

// 0 when a 512-byte O_DIRECT read of the first bad sector succeeds, else its errno.
int bad_range_refused() {
  int fd = open(g.node.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return errno;
  AlignedBuffer buf(4096);
  ssize_t n = pread(fd, buf.data(), 512, static_cast<off_t>(g.range.first * 512));
  int e = n < 0 ? errno : 0;  // null_blk fails the whole request or none of it
  close(fd);
  return e;
}

void readback(FaultState* st) {
  const std::string& t = g.spec.target;
  if (t == "null_blk-badblocks") {
    // null_blk counts nothing: its failed requests are the block layer's log lines.
    auto lines = kmsg_lines_for(g.disk);
    st->calls = st->fired = static_cast<long>(lines.size());
    if (!lines.empty()) {
      append_detail(st, "kernel log: " + lines.front().substr(0, 200));
      return;
    }
    // Those lines are rate-limited (block/blk-mq.c blk_print_req_error() is
    // printk_ratelimited: 10 per 5 s), so a run of fault cases loses them.
    // Then the proof is the disk's own counters (the case's requests reached
    // it) and the kernel refusing a read of the bad range right now.
    Stat now = read_stat(g.disk);
    uint64_t ios = (now.rd_ios - g.before.rd_ios) + (now.wr_ios - g.before.wr_ios);
    int probe = bad_range_refused();
    st->calls = static_cast<long>(ios);
    if (ios > 0 && probe == EIO) st->fired = 1;
    append_detail(st, fmt::format("no \"error, dev {},\" line in the kernel log (rate-limited?); {}: {} I/Os since install; an O_DIRECT "
                                  "read of sector {} now {}", g.disk, g.disk, ios, g.range.first,
                                  probe == 0 ? "succeeds" : "fails " + errno_name(probe)));
    return;
  }
  if (t == "scsi_debug-medium-error") {
    // The SCSI device's own count of commands that ended in error.
    uint64_t errs = scsi_ioerr_cnt() - g.ioerr_before;
    st->calls = st->fired = static_cast<long>(errs);
    auto lines = kmsg_lines_for(g.disk);
    append_detail(st, fmt::format("{} ioerr_cnt +{}{}", g.disk, errs, lines.empty() ? "" : "; kernel log: " + lines.front().substr(0, 160)));
    return;
  }
  Stat now = read_stat(g.disk);
  if (t == "dm-error") {
    // Every I/O the linear device passed on went to the error target.
    uint64_t ios = (now.rd_ios - g.before.rd_ios) + (now.wr_ios - g.before.wr_ios);
    std::string below;
    dm_status(g.dm_err_name, true, &below);
    bool is_error = below.find(" error") != std::string::npos;
    st->calls = static_cast<long>(ios);
    if (is_error) st->fired = static_cast<long>(ios);
    append_detail(st, fmt::format("{}: {} I/Os passed to {} ({})", g.disk, ios, g.dm_err_name, below));
    return;
  }
  if (t == "dm-flakey") {
    // Writes that reached the dm device but never the disk below were dropped
    // (drop_writes) or failed (error_writes / down) by flakey itself.
    Stat under = read_stat(g.under_disk);
    uint64_t dm_w = now.wr_ios - g.before.wr_ios, under_w = under.wr_ios - g.under_before.wr_ios;
    st->calls = static_cast<long>(dm_w);
    if (dm_w > 0 && under_w == 0) st->fired = static_cast<long>(dm_w);
    append_detail(st, fmt::format("{}: {} writes; {} below it: {} writes", g.disk, dm_w, g.under_disk, under_w));
    return;
  }
  // Delays: the time the disk's requests took, from its own counters.
  uint64_t ios = (now.rd_ios - g.before.rd_ios) + (now.wr_ios - g.before.wr_ios);
  uint64_t ticks = (now.rd_ticks - g.before.rd_ticks) + (now.wr_ticks - g.before.wr_ticks);
  st->calls = static_cast<long>(ios);
  if (ios > 0 && ticks >= ios * g.delay_ms * 9 / 10) st->fired = static_cast<long>(ios);
  append_detail(st, fmt::format("{}: {} I/Os took {} ms in all (delay {} ms each)", g.disk, ios, ticks, g.delay_ms));
}

// Undoes what was made, newest first; a step that fails stays journalled for
// the runner (which undoes it once this process is gone and its fds closed).
void teardown() {
  auto& j = Journal::run_journal();
  if (g.kmsg >= 0) close(g.kmsg);
  g.kmsg = -1;
  if (g.spec.target == "scsi_debug-medium-error" && exists("/sys/bus/pseudo/drivers/scsi_debug/opts"))
    put("/sys/bus/pseudo/drivers/scsi_debug/opts", "0");
  if (g.dm_id >= 0 && dm_remove(g.dm_name).empty()) j.done(g.dm_id);
  if (g.dm_err_id >= 0 && dm_remove(g.dm_err_name).empty()) j.done(g.dm_err_id);
  if (g.loop_id >= 0 && Journal::undo(UndoKind::loop_detach, {g.loop_dev, g.loop_backing}).empty()) j.done(g.loop_id);
  if (g.nullb_id >= 0 && system::remove_nullb(g.nullb_dir).empty()) j.done(g.nullb_id);
  for (auto it = g.modules.rbegin(); it != g.modules.rend(); ++it) {
    // A module whose last user just went may need a moment to drop its count.
    if (it->first == "configfs" && g.configfs_id >= 0 && Journal::undo(UndoKind::umount, {g.configfs_mnt}).empty()) {
      j.done(g.configfs_id);
      g.configfs_id = -1;
    }
    std::string e;
    for (int i = 0; i < 40 && !(e = system::unload_module(it->first)).empty(); i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (e.empty()) j.done(it->second);
  }
  if (g.configfs_id >= 0 && Journal::undo(UndoKind::umount, {g.configfs_mnt}).empty()) j.done(g.configfs_id);
  g = Made{};
}

}  // namespace

std::string block_facility(const std::string& target) {
  if (target == "null_blk-badblocks" || target == "null_blk-delay") return "null_blk";
  if (target == "scsi_debug-medium-error") return "scsi_debug";
  if (target == "dm-error" || target == "dm-flakey" || target == "dm-delay") return "device_mapper";
  return "";
}

bool module_present(const std::string& module, bool loaded, const std::string& modules_dep,
                    const std::string& modules_builtin) {
  if (loaded) return true;
  // Paths in modules.dep/modules.builtin spell the name with '-' or '_'.
  std::string alt = module;
  for (auto& c : alt)
    if (c == '_') c = '-';
  for (const std::string* text : {&modules_dep, &modules_builtin}) {
    std::istringstream is(*text);
    std::string line;
    while (std::getline(is, line)) {
      std::string path = line.substr(0, line.find(':'));
      std::string base = path.substr(path.rfind('/') + 1);
      base = base.substr(0, base.find(".ko"));
      if (base == module || base == alt) return true;
    }
  }
  return false;
}

std::string block_facility_reason(const std::string& facility) {
  static const std::map<std::string, std::string> kModule = {
      {"null_blk", "null_blk"}, {"device_mapper", "dm_mod"}, {"scsi_debug", "scsi_debug"}};
  auto it = kModule.find(facility);
  if (it == kModule.end()) return "unknown block facility " + facility;
  if (geteuid() != 0) return "needs root";
  utsname u{};
  uname(&u);
  std::string dir = std::string("/lib/modules/") + u.release;
  bool ok = module_present(it->second, exists("/sys/module/" + it->second), slurp(dir + "/modules.dep"),
                           slurp(dir + "/modules.builtin"));
  if (facility == "device_mapper" && exists("/dev/mapper/control")) ok = true;
  return ok ? "" : fmt::format("{} not available (no {} module for kernel {})", facility == "device_mapper" ? "device-mapper" : facility, it->second, u.release);
}

std::string block_skip_reason(const std::string& facility, const std::string& why) {
  return "needs a VM: " + (why.empty() ? facility + " not available" : why);
}

bool parse_sectors(const std::string& effect, SectorRange* r) {
  unsigned long long a = 0, b = 0;
  int used = 0;
  if (sscanf(effect.c_str(), "sectors:%llu-%llu%n", &a, &b, &used) != 2 || static_cast<size_t>(used) != effect.size() || a > b)
    return false;
  r->first = a;
  r->last = b;
  return true;
}

bool parse_delay_ms(const std::string& effect, uint64_t* ms) {
  unsigned long long v = 0;
  int used = 0;
  if (sscanf(effect.c_str(), "delay_ms:%llu%n", &v, &used) != 1 || static_cast<size_t>(used) != effect.size() || v == 0 ||
      v > 60000)
    return false;
  *ms = v;
  return true;
}

std::string validate_block(const FaultSpec& f) {
  if (f.trigger != "always") return "the block layer's device is faulty for the whole case: trigger must be \"always\"";
  SectorRange r;
  uint64_t ms = 0;
  const std::string& t = f.target;
  if (t == "null_blk-badblocks" || t == "scsi_debug-medium-error")
    return parse_sectors(f.effect, &r) ? "" : t + " effect must be sectors:FIRST-LAST (512-byte sectors)";
  if (t == "null_blk-delay" || t == "dm-delay")
    return parse_delay_ms(f.effect, &ms) ? "" : t + " effect must be delay_ms:N (1..60000)";
  if (t == "dm-error") return f.effect == "error" ? "" : "dm-error effect must be \"error\"";
  if (t == "dm-flakey")
    return f.effect == "drop_writes" || f.effect == "error_writes" || f.effect == "down"
               ? ""
               : "dm-flakey effect must be drop_writes, error_writes or down";
  return fmt::format("block target '{}': known are null_blk-badblocks, null_blk-delay, scsi_debug-medium-error, "
                     "dm-error, dm-flakey, dm-delay", t);
}

DmTarget dm_table_for(const std::string& target, const std::string& effect, const std::string& under,
                      uint64_t sectors) {
  DmTarget t;
  t.length = sectors;
  if (target == "dm-error") {
    t.type = "error";  // no arguments
  } else if (target == "dm-flakey") {
    // <dev> <offset> <up interval> <down interval> [<#features> <features>]:
    // up 0, down 1 s: always in the down period.
    t.type = "flakey";
    t.params = fmt::format("{} 0 0 1", under);
    if (effect != "down") t.params += " 1 " + effect;
  } else if (target == "dm-delay") {
    // <device> <offset> <delay> [...]: reads and writes delayed by <delay> ms.
    uint64_t ms = 0;
    parse_delay_ms(effect, &ms);
    t.type = "delay";
    t.params = fmt::format("{} 0 {}", under, ms);
  }
  return t;
}

std::string block_device() { return g.active ? g.node : ""; }

Installed install_block(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  std::string facility = block_facility(f.target);
  if (std::string why = block_facility_reason(facility); !why.empty())
    return {Installed::skip, block_skip_reason(facility, why), ""};
  g = Made{};
  g.spec = f;
  g.case_dir = case_dir;
  parse_sectors(f.effect, &g.range);
  parse_delay_ms(f.effect, &g.delay_ms);
  // Log lines from here on are this case's (the kernel's own sequence numbers).
  g.kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (g.kmsg >= 0) lseek(g.kmsg, 0, SEEK_END);
  try {
    if (facility == "null_blk") make_nullb();
    else if (facility == "scsi_debug") make_scsi_debug();
    else make_dm();
  } catch (const Fail& fail) {
    teardown();
    return {fail.kind, fail.reason, ""};
  }
  g.before = read_stat(g.disk);
  if (!g.under_disk.empty()) g.under_before = read_stat(g.under_disk);
  g.active = true;
  std::string table;
  if (!g.dm_name.empty() && dm_status(g.dm_name, true, &table).empty())
    append_detail(st, fmt::format("{} table: {}", g.disk, table));
  else
    append_detail(st, fmt::format("{} ({}, {})", g.disk, f.target, f.effect));
  return {Installed::ok, "", case_dir};
}

void release_block(FaultState* st) {
  if (!g.active) return;
  readback(st);
  teardown();
}

AIOH_FAULT_LAYER("block", .order = 70, .validate = validate_block, .install = install_block, .release = release_block,
                 .claim = {true, "", "loads modules and makes null_blk, scsi_debug or device-mapper devices"},
                 .unavailable = [](const FaultSpec& f, const std::function<bool(const std::string&)>& fact) {
                   std::string facility = block_facility(f.target);
                   return facility.empty() || fact(facility) ? std::string() : facility + " is missing here";
                 });

}  // namespace aioh::faults

namespace aioh::faults {
namespace {

// The child's side of probe_buffered_read_reissue(): one io_uring buffered read
// of the bad sectors (byte 32768, as the rows); exit 0 = EIO, 1 = no
// completion in time, 2 = other.
[[noreturn]] void reissue_probe_child(const std::string& node) {
  int fd = open(node.c_str(), O_RDONLY | O_CLOEXEC);
  io_uring ring{};
  if (fd < 0 || io_uring_queue_init(2, &ring, 0) != 0) _exit(2);
  alignas(4096) static char buf[4096];
  io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, sizeof buf, 32768);
  if (io_uring_submit(&ring) != 1) _exit(2);
  __kernel_timespec ts{2, 0};
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0) _exit(1);
  _exit(cqe->res == -EIO ? 0 : 2);
}

}  // namespace

ReissueProbe probe_buffered_read_reissue(const std::string& scratch) {
  // The rows' own device: null_blk with bad sectors 64-71, made and undone by
  // this layer as for a case (a device whose failure completes inside
  // submit_bio, as dm-error's does, is seen at once and reported as EIO).
  std::string dir = scratch + "/.probe-reissue";
  if (mkdir(dir.c_str(), 0700) != 0) return {std::nullopt, "mkdir " + dir + ": " + errno_name(errno)};
  FaultState* st = state_alloc();
  ReissueProbe out{std::nullopt, ""};
  Installed in = install_block(FaultSpec{"block", "null_blk-badblocks", "sectors:64-71"}, st, dir);
  if (in.kind != Installed::ok) {
    out.why = in.reason;
  } else {
    pid_t pid = fork();
    if (pid == 0) reissue_probe_child(block_device());
    int st_code = 0;
    for (int i = 0; i < 100 && waitpid(pid, &st_code, WNOHANG) == 0; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (waitpid(pid, &st_code, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &st_code, 0);
      out.why = "the probe's read neither completed nor timed out within 5 s";
    } else if (WIFEXITED(st_code) && WEXITSTATUS(st_code) < 2) {
      out.reissued = WEXITSTATUS(st_code) == 1;
    } else {
      out.why = "the buffered read of the bad sectors did not end with EIO nor hang";
    }
    release_block(st);
  }
  state_free(st);
  rmdir(dir.c_str());
  return out;
}

}  // namespace aioh::faults
