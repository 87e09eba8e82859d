// The block fault layer: a faulty block device made for one case inside a
// VM guest and handed to the scenario as a raw block device. This file
// validates a row, says which facility its target needs and whether this
// kernel has it, and drives the mechanism the target names (block_mechanism.h:
// null_blk, scsi_debug, device-mapper, one file each) through make, readback
// and teardown, with the helpers they share. Every module loaded, mount,
// nullb item, loop device and dm device is journalled before it exists and
// undone after the case, so a killed case leaves nothing. Proof the fault
// fired is read back from the kernel: the block layer's "<error>, dev X,
// sector N" log line or the disks' own counters in /sys/block/X/stat.
#include "faults/block.h"
#include "faults/block_mechanism.h"

#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "errno_names.h"
#include "system/journal.h"
#include "system/settings.h"
#include "pattern.h"
#include "subprocess.h"

namespace aioh::faults::block {

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

std::string put(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fmt::format("open {}: {}", path, errno_name(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int e = errno;
  close(fd);
  if (n < 0) return fmt::format("write '{}' to {}: {}", value, path, errno_name(e));
  // A short write sets no errno: say how much was taken, not a stale errno's name.
  if (n != static_cast<ssize_t>(value.size())) return fmt::format("write '{}' to {}: {} of {} bytes", value, path, n, value.size());
  return "";
}

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

void load_module(BlockCase& b, const std::string& module, const std::vector<std::string>& params) {
  if (exists("/sys/module/" + module)) return;
  // One owner per global setting: held until this case's process exits.
  if (std::string e = system::acquire_settings_lock("module " + module, nullptr, system::kCaseLockWait); !e.empty())
    throw BlockFail{Installed::broken, e};
  if (exists("/sys/module/" + module)) return;  // loaded meanwhile by the run that held the lock
  long id = Journal::run_journal().record(UndoKind::module_unload, {module});
  std::vector<std::string> argv = {"modprobe", module};
  argv.insert(argv.end(), params.begin(), params.end());
  std::string err = run_tool(argv);
  if (!exists("/sys/module/" + module)) {
    Journal::run_journal().done(id);
    // Built in without a /sys/module entry: modprobe succeeds and nothing is ours.
    if (err.empty()) return;
    throw BlockFail{Installed::skip, err};
  }
  b.modules.emplace_back(module, id);
}

std::string node_for(const BlockCase& b, const std::string& disk) {
  std::string devno = trim(slurp("/sys/block/" + disk + "/dev"));
  unsigned maj = 0, min = 0;
  if (sscanf(devno.c_str(), "%u:%u", &maj, &min) != 2) throw BlockFail{Installed::broken, "no /sys/block/" + disk + "/dev"};
  struct stat sb {};
  std::string dev = "/dev/" + disk;
  if (stat(dev.c_str(), &sb) == 0 && S_ISBLK(sb.st_mode) && sb.st_rdev == makedev(maj, min)) return dev;
  std::string mine = b.case_dir + "/" + disk;
  if (mknod(mine.c_str(), S_IFBLK | 0600, makedev(maj, min)) != 0)
    throw BlockFail{Installed::broken, fmt::format("mknod {}: {}", mine, errno_name(errno))};
  return mine;
}

void prefill(const std::string& node) {
  int fd = open(node.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) throw BlockFail{Installed::broken, fmt::format("open {}: {}", node, errno_name(errno))};
  // One request for the whole prefill: on a delaying disk (null_blk
  // completion_nsec) each request waits out the delay, and the bios of one
  // O_DIRECT write are in flight together, so one write waits it out once.
  AlignedBuffer buf(kPrefill);
  fill_pattern(buf.data(), buf.size(), kFileSeed, 0);
  for (size_t off = 0; off < kPrefill;) {
    ssize_t n = pwrite(fd, buf.data() + off, kPrefill - off, static_cast<off_t>(off));
    if (n <= 0 || n % 512 != 0) {
      int e = errno;
      close(fd);
      throw BlockFail{Installed::broken, n < 0 ? fmt::format("prefill {} at {}: {}", node, off, errno_name(e))
                                               : fmt::format("prefill {} at {}: {} of {} bytes", node, off, n, kPrefill - off)};
    }
    off += static_cast<size_t>(n);
  }
  fsync(fd);
  ioctl(fd, BLKFLSBUF, 0);
  close(fd);
}

std::vector<std::string> kmsg_lines_for(const BlockCase& b, const std::string& disk) {
  std::vector<std::string> out;
  if (b.kmsg < 0) return out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(b.kmsg, buf, sizeof buf - 1);
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

void readback_delay(const BlockCase& b, FaultState* st) {
  Stat now = read_stat(b.disk);
  uint64_t ios = now.ios_since(b.before);
  uint64_t ticks = (now.rd_ticks - b.before.rd_ticks) + (now.wr_ticks - b.before.wr_ticks);
  st->calls = static_cast<long>(ios);
  if (ios > 0 && ticks >= ios * b.delay_ms * 9 / 10) st->fired = static_cast<long>(ios);
  append_detail(st, fmt::format("{}: {} I/Os took {} ms in all (delay {} ms each)", b.disk, ios, ticks, b.delay_ms));
}

}  // namespace aioh::faults::block

namespace aioh::faults {
namespace {

using block::BlockCase;
using block::exists;
using block::slurp;

// One mechanism per facility (the probe's fact names).
struct Mechanism {
  const char* facility;
  void (*make)(BlockCase&);
  void (*readback)(const BlockCase&, FaultState*);
  void (*teardown)(BlockCase&);
};
constexpr Mechanism kMechanisms[] = {
    {"null_blk", block::make_null_blk, block::readback_null_blk, block::teardown_null_blk},
    {"scsi_debug", block::make_scsi_debug, block::readback_scsi_debug, block::teardown_scsi_debug},
    {"device_mapper", block::make_dm, block::readback_dm, block::teardown_dm},
};

const Mechanism& mechanism_for(const std::string& facility) {
  for (auto& m : kMechanisms)
    if (facility == m.facility) return m;
  // Validation admits only the facilities above; a new one must get a row here.
  std::abort();
}

BlockCase g;
const Mechanism* g_mech = nullptr;

// Undoes what was made, newest first; a step that fails stays journalled for
// the runner (which undoes it once this process is gone and its fds closed).
void teardown() {
  auto& j = Journal::run_journal();
  if (g.kmsg >= 0) close(g.kmsg);
  g.kmsg = -1;
  if (g_mech) g_mech->teardown(g);
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
  g = BlockCase{};
  g_mech = nullptr;
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

std::string block_device() { return g.active ? g.node : ""; }

Installed install_block(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  std::string facility = block_facility(f.target);
  if (std::string why = block_facility_reason(facility); !why.empty())
    return {Installed::skip, block_skip_reason(facility, why), ""};
  g = BlockCase{};
  g.spec = f;
  g.case_dir = case_dir;
  parse_sectors(f.effect, &g.range);
  parse_delay_ms(f.effect, &g.delay_ms);
  // Log lines from here on are this case's (the kernel's own sequence numbers).
  g.kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (g.kmsg >= 0) lseek(g.kmsg, 0, SEEK_END);
  g_mech = &mechanism_for(facility);
  try {
    g_mech->make(g);
  } catch (const block::BlockFail& fail) {
    teardown();
    return {fail.kind, fail.reason, ""};
  }
  g.before = block::read_stat(g.disk);
  if (!g.under_disk.empty()) g.under_before = block::read_stat(g.under_disk);
  g.active = true;
  std::string table;
  if (!g.dm_name.empty() && dm_status(g.dm_name, true, &table).empty())
    block::append_detail(st, fmt::format("{} table: {}", g.disk, table));
  else
    block::append_detail(st, fmt::format("{} ({}, {})", g.disk, f.target, f.effect));
  return {Installed::ok, "", case_dir};
}

void release_block(FaultState* st) {
  if (!g.active) return;
  g_mech->readback(g, st);
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
