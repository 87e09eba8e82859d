// The vm fault layer: device-level faults that QEMU's blkdebug driver injects
// under the guest's emulated NVMe disk. A row names one rule (target
// "blkdebug:EVENT[@SECTOR]", effect an errno name, trigger once|always); the
// VM orchestrator boots a guest whose disk carries exactly that row's rules
// and names them in AIOH_DEVICE_FAULT, so the row runs only there, and only
// on the raw disk (AIOH_FAULT_DEVICE) at the faulted sector: no filesystem
// sits on it, so nothing else touches that sector. A once-rule fires once per
// guest, so each interface gets its own copy of the rule kStride sectors
// apart (vm/devfaults.py generates the same copies). Whether the fault fired
// is read back from the guest kernel: the block layer logs every failed
// request as "<status> error, dev <disk>, sector <N> op 0x..:(<OP>)"
// (block/blk-mq.c blk_print_req_error), which the layer reads from /dev/kmsg.
// A slow disk is the same kind of row (target "throttle:iops=N", effect
// "latency"): QEMU's I/O throttling holds requests, and the case reads the
// device's in-flight count (/sys/block/<disk>/inflight) to see its request
// held there.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "backend.h"
#include "errno_names.h"
#include "faults/fault.h"

namespace aioh::faults {
namespace {

// 1 MiB apart (in 512-byte sectors): each interface's copy of a sector rule.
constexpr int64_t kStride = 2048;

struct Armed {
  DeviceRule rule;
  std::string device;  // /dev/nvme0n1
  std::string disk;    // nvme0n1
  int kmsg = -1;
  int64_t sector = -1;  // this interface's sector, set by the scenario
  FaultState* st = nullptr;
};
Armed g_armed;
bool g_active = false;

std::vector<std::string> armed_rules() {
  std::vector<std::string> out;
  const char* s = getenv("AIOH_DEVICE_FAULT");
  std::stringstream in(s ? s : "");
  std::string item;
  while (std::getline(in, item, ';'))
    if (!item.empty()) out.push_back(item);
  return out;
}

// The block layer's log op for a blkdebug event's requests.
bool op_matches(const std::string& event, const std::string& op, const std::string& line) {
  if (event == "read_aio") return op == "READ";
  if (event == "write_aio") return op == "WRITE";
  // A flush is logged as FLUSH, or (6.1) as the empty preflush WRITE that carried it.
  return op == "FLUSH" || (op == "WRITE" && line.find("phys_seg 0") != std::string::npos);
}

}  // namespace

std::optional<DeviceRule> parse_device_rule(const FaultSpec& f, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<DeviceRule> {
    if (why) *why = w;
    return std::nullopt;
  };
  DeviceRule r;
  if (f.target.rfind("throttle:iops=", 0) == 0) {
    char* end = nullptr;
    r.event = "throttle";
    r.iops = strtoll(f.target.c_str() + 14, &end, 10);
    r.once = false;
    if (*end || r.iops < 1) return fail("throttle:iops=N needs N >= 1");
    if (f.effect != "latency" || f.trigger != "always") return fail("a throttle row: effect \"latency\", trigger \"always\"");
    return r;
  }
  const std::string prefix = "blkdebug:";
  if (f.target.rfind(prefix, 0) != 0) return fail("vm fault target must be blkdebug:EVENT[@SECTOR] or throttle:iops=N");
  std::string rest = f.target.substr(prefix.size());
  auto at = rest.find('@');
  r.event = rest.substr(0, at);
  if (r.event != "read_aio" && r.event != "write_aio" && r.event != "flush_to_disk")
    return fail(fmt::format("blkdebug event '{}': known are read_aio, write_aio, flush_to_disk", r.event));
  if (at != std::string::npos) {
    char* end = nullptr;
    r.sector = strtoll(rest.c_str() + at + 1, &end, 10);
    if (*end || r.sector < 0) return fail(fmt::format("blkdebug sector '{}' is not a sector number", rest.substr(at + 1)));
  }
  if (r.event == "flush_to_disk" && r.sector >= 0) return fail("a flush has no sector: blkdebug:flush_to_disk takes none");
  if (r.event != "flush_to_disk" && r.sector < 0) return fail("a read/write rule needs @SECTOR (the case does its I/O there)");
  if (!errno_from_name(f.effect)) return fail(fmt::format("fault effect '{}' is not an errno name", f.effect));
  r.errno_name = f.effect;
  if (f.trigger != "once" && f.trigger != "always") return fail("blkdebug rules fire once or always");
  // A flush carries no sector, so per-interface copies cannot be told apart.
  if (r.event == "flush_to_disk" && f.trigger == "once") return fail("a flush rule must be \"always\" (one rule serves every interface)");
  r.once = f.trigger == "once";
  return r;
}

std::string DeviceRule::text() const {
  if (event == "throttle") return "throttle:iops=" + std::to_string(iops);
  std::string s = event + ":" + errno_name;
  if (sector >= 0) s += ":sector=" + std::to_string(sector);
  if (!once) s += ":always";
  return s;
}

int64_t device_slot(std::string_view iface) { return interface_index(iface); }

Installed install_vm(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  std::string why;
  auto rule = parse_device_rule(f, &why);
  if (!rule) return {Installed::broken, why, case_dir};
  std::string text = rule->text();
  if (!getenv("AIOH_VM_GUEST"))
    return {Installed::skip, "needs a VM: the device fault " + text + " runs under the VM orchestrator (scripts/matrix)", case_dir};
  auto armed = armed_rules();
  if (std::find(armed.begin(), armed.end(), text) == armed.end())
    return {Installed::skip, fmt::format("needs a VM with {} (this guest's disk has: {})", text,
                                         armed.empty() ? "no rule" : getenv("AIOH_DEVICE_FAULT")),
            case_dir};
  const char* dev = getenv("AIOH_FAULT_DEVICE");
  struct stat sb {};
  if (!dev || stat(dev, &sb) != 0 || !S_ISBLK(sb.st_mode))
    return {Installed::broken, fmt::format("AIOH_FAULT_DEVICE '{}' is not a block device", dev ? dev : ""), case_dir};
  g_armed = Armed{*rule, dev, std::string(dev).substr(std::string(dev).rfind('/') + 1), -1, -1, st};
  g_armed.kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (g_armed.kmsg < 0) return {Installed::broken, std::string("cannot read /dev/kmsg for the readback: ") + errno_name(errno), case_dir};
  lseek(g_armed.kmsg, 0, SEEK_END);  // only what this case causes
  g_active = true;
  return {Installed::ok, "", case_dir};
}

void device_fired(const std::string& detail) {
  if (!g_active || !g_armed.st) return;
  g_armed.st->fired++;
  snprintf(g_armed.st->detail, sizeof g_armed.st->detail, "%s", detail.c_str());
}

DeviceTarget device_target(std::string_view iface) {
  if (!g_active) return {};
  int64_t slot = device_slot(iface);
  if (slot < 0) return {};
  g_armed.sector = g_armed.rule.sector < 0 ? -1 : g_armed.rule.sector + slot * kStride;
  // Flush rows write their block where a sector rule of the same slot would be.
  int64_t where = g_armed.sector >= 0 ? g_armed.sector : (int64_t{1} << 21) + slot * kStride;
  return {g_armed.device, g_armed.rule, g_armed.sector, where};
}

std::optional<int64_t> parse_block_error(const std::string& line, const std::string& disk, std::string* op) {
  std::string key = "error, dev " + disk + ", sector ";
  auto p = line.find(key);
  if (p == std::string::npos) return std::nullopt;
  char* end = nullptr;
  long long sector = strtoll(line.c_str() + p + key.size(), &end, 10);
  if (end == line.c_str() + p + key.size()) return std::nullopt;
  if (op) {
    op->clear();
    auto o = line.find(":(", p);
    auto c = o == std::string::npos ? o : line.find(')', o);
    if (c != std::string::npos) *op = line.substr(o + 2, c - o - 2);
  }
  return sector;
}

void readback_vm(FaultState* st) {
  if (!g_active || !st || g_armed.rule.event == "throttle") return;  // the scenario reads a throttle back
  char rec[4096];
  std::string detail(st->detail, strnlen(st->detail, sizeof st->detail));
  for (;;) {
    ssize_t n = read(g_armed.kmsg, rec, sizeof rec - 1);
    if (n < 0 && errno == EPIPE) continue;  // records overwritten: go on from the next
    if (n <= 0) break;
    rec[n] = 0;
    std::string msg(rec);
    auto semi = msg.find(';');
    msg = semi == std::string::npos ? msg : msg.substr(semi + 1);
    msg = msg.substr(0, msg.find('\n'));
    std::string op;
    if (auto sector = parse_block_error(msg, g_armed.disk, &op)) {
      st->calls++;
      bool hit = op_matches(g_armed.rule.event, op, msg) && (g_armed.sector < 0 || *sector == g_armed.sector);
      if (hit) st->fired++;
      if (detail.size() < 300) detail += (detail.empty() ? "" : " | ") + msg.substr(0, 160);
    } else if (msg.find(g_armed.disk + ":") == 0 && detail.size() < 300) {
      detail += (detail.empty() ? "" : " | ") + msg.substr(0, 160);  // the NVMe status line (nvme_log_error)
    }
  }
  snprintf(st->detail, sizeof st->detail, "%s", detail.c_str());
}

void release_vm(FaultState*) {
  if (g_armed.kmsg >= 0) close(g_armed.kmsg);
  g_armed.kmsg = -1;
  g_active = false;
}

AIOH_FAULT_LAYER("vm", .order = 80, .validate =
                     [](const FaultSpec& f) {
                       std::string why;
                       return parse_device_rule(f, &why) ? std::string() : why;
                     },
                 .install = install_vm, .disarm = readback_vm, .release = release_vm,
                 .claim = {true, "", "a fault rule on the guest's disk, which every case's I/O reaches"},
                 .unavailable = [](const FaultSpec&, const std::function<bool(const std::string&)>& fact) {
                   return fact("vm_guest") ? std::string() : std::string("this is not a VM guest");
                 });

}  // namespace aioh::faults
