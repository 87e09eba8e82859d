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

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "pattern.h"
#include "scenarios/common.h"

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
  if (g_armed.kmsg < 0) return {Installed::broken, std::string("cannot read /dev/kmsg for the readback: ") + strerror(errno), case_dir};
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

void release_vm() {
  if (g_armed.kmsg >= 0) close(g_armed.kmsg);
  g_armed.kmsg = -1;
  g_active = false;
}

}  // namespace aioh::faults

namespace aioh {
namespace {

// O_DIRECT pread/pwrite of one aligned block range of the raw disk, outside the interface.
bool raw_io(int fd, bool write, void* buf, size_t len, int64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write ? pwrite(fd, static_cast<char*>(buf) + done, len - done, off + static_cast<int64_t>(done))
                      : pread(fd, static_cast<char*>(buf) + done, len - done, off + static_cast<int64_t>(done));
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Requests are `len` bytes each, `gap` bytes apart (a gap
// keeps the block layer from merging neighbours into one request), request
// `at` starting exactly at this interface's faulted sector of the raw disk.
void fault_device_rw(CaseContext& ctx) {
  auto t = faults::device_target(ctx.backend().name());
  if (t.device.empty()) ctx.broken("no armed device fault for interface " + std::string(ctx.backend().name()));
  std::string op = ctx.str("op");
  unsigned count = static_cast<unsigned>(ctx.num("count"));
  size_t len = static_cast<size_t>(ctx.num("len"));
  int64_t at = ctx.num("at");
  int64_t step = static_cast<int64_t>(len) + ctx.num("gap");
  int64_t base = t.where * 512 - at * step;
  int fd = open(t.device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) ctx.broken(fmt::format("cannot open {}: {}", t.device, strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};

  std::vector<std::unique_ptr<AlignedBuffer>> bufs, before;
  std::vector<Request> reqs(op == "fsync" ? 1 : count);
  std::vector<Request*> ptrs;
  for (unsigned i = 0; i < reqs.size(); i++) {
    int64_t off = base + static_cast<int64_t>(i) * step;
    bufs.push_back(std::make_unique<AlignedBuffer>(len));
    before.push_back(std::make_unique<AlignedBuffer>(len));
    if (op == "read") {
      // Known bytes under every request (the rule fails reads only: iotype=read).
      fill_pattern(bufs[i]->data(), len, kFileSeed, static_cast<uint64_t>(off));
      if (!raw_io(fd, true, bufs[i]->data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, strerror(errno)));
      memset(bufs[i]->data(), 0, len);
      reqs[i] = scn::read_req(fd, bufs[i]->data(), len, off, 1 + i);
    } else if (op == "write") {
      // What a failed write must leave in place (the rule fails writes only).
      if (!raw_io(fd, false, before[i]->data(), len, off)) ctx.broken(fmt::format("reading offset {}: {}", off, strerror(errno)));
      fill_pattern(bufs[i]->data(), len, kWriteSeed, static_cast<uint64_t>(off));
      reqs[i] = scn::read_req(fd, bufs[i]->data(), len, off, 1 + i);
      reqs[i].op = Op::write;
    } else if (op == "fsync") {
      // Something for the flush to carry to stable storage.
      fill_pattern(bufs[i]->data(), len, kWriteSeed, static_cast<uint64_t>(off));
      if (!raw_io(fd, true, bufs[i]->data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, strerror(errno)));
      reqs[i] = Request{};
      reqs[i].op = Op::fsync;
      reqs[i].fd = fd;
      reqs[i].tag = 1 + i;
    } else {
      ctx.broken("op must be read, write or fsync");
    }
    ptrs.push_back(&reqs[i]);
  }

  faults::arm();
  scn::setup_or_broken(ctx);
  int64_t n = scn::submit_observed(ctx, ptrs);
  std::map<uint64_t, Completion> got;
  if (n > 0) got = scn::reap_observed(ctx, static_cast<unsigned>(n));
  faults::disarm();

  for (unsigned i = 0; i < reqs.size() && op != "fsync"; i++) {
    auto it = got.find(1 + i);
    int64_t off = reqs[i].offset;
    bool ok = it != got.end() && !it->second.result.is_error;
    if (op == "read" && ok) {
      scn::verify_read(ctx, it->second, bufs[i]->data(), static_cast<uint64_t>(off));
    } else if (op == "write") {
      AlignedBuffer now(len);
      if (!raw_io(fd, false, now.data(), len, off)) {
        ctx.check(false, fmt::format("read-back of offset {} failed: {}", off, strerror(errno)));
        continue;
      }
      if (ok) {
        std::string bad = verify_buffer(now.data(), static_cast<size_t>(it->second.result.value), kWriteSeed, static_cast<uint64_t>(off));
        ctx.check(bad.empty(), fmt::format("write {} reported success but {}", i, bad));
      } else {
        ctx.check(memcmp(now.data(), before[i]->data(), len) == 0,
                  fmt::format("the failed write {} changed the disk at offset {}", i, off));
      }
    }
  }
  Outcome td = ctx.backend().teardown();
  ctx.check(!td.is_error, "teardown failed after the device fault: " + td.str());
}

// /sys/block/<disk>/inflight: "reads writes" the device holds now.
int64_t inflight(const std::string& disk) {
  FILE* f = fopen(("/sys/block/" + disk + "/inflight").c_str(), "r");
  if (!f) return -1;
  long long r = 0, w = 0;
  int n = fscanf(f, "%lld %lld", &r, &w);
  fclose(f);
  return n == 2 ? r + w : -1;
}

// A read held at a slow (throttled) device, then cancelled through the
// interface: what each cancel says about a request the device already has,
// and that the read still ends with the disk's bytes. `fired` is the
// device's own in-flight count showing the request after submit.
void device_inflight_cancel(CaseContext& ctx) {
  auto t = faults::device_target(ctx.backend().name());
  if (t.device.empty() || t.rule.event != "throttle") ctx.broken("no slow-disk fault armed for this interface");
  std::string disk = t.device.substr(t.device.rfind('/') + 1);
  size_t len = 4096;
  int64_t off = t.where * 512;
  int fd = open(t.device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) ctx.broken(fmt::format("cannot open {}: {}", t.device, strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  AlignedBuffer buf(len);
  fill_pattern(buf.data(), len, kFileSeed, static_cast<uint64_t>(off));
  if (!raw_io(fd, true, buf.data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, strerror(errno)));
  // Use up the throttle's burst so the case's own read waits in QEMU.
  for (int64_t i = 0; i < t.rule.iops + 2; i++)
    if (!raw_io(fd, false, buf.data(), len, off)) ctx.broken("burst read failed: " + std::string(strerror(errno)));
  memset(buf.data(), 0, len);
  Request r = scn::read_req(fd, buf.data(), len, off, 1);
  faults::arm();
  scn::setup_or_broken(ctx);
  int64_t before = inflight(disk);
  int64_t n = scn::submit_observed(ctx, {&r});
  if (n == 1) {
    // posix-aio's worker thread issues the pread a moment after aio_read returns.
    for (int i = 0; i < 200; i++) {
      int64_t now = inflight(disk);
      if (now > before && now > 0) {
        faults::device_fired(fmt::format("{} request(s) in flight at {} after submit", now, disk));
        break;
      }
      usleep(1000);
    }
    ctx.observe(ctx.backend().cancel(r));
    auto got = scn::reap_observed(ctx, 1, timespec{30, 0});
    if (auto it = got.find(1); it != got.end()) scn::verify_read(ctx, it->second, buf.data(), static_cast<uint64_t>(off));
  }
  faults::disarm();
  Outcome td = ctx.backend().teardown();
  ctx.check(!td.is_error, "teardown failed: " + td.str());
}

// Test-only: panics the guest kernel (sysrq 'c') so the orchestrator's
// panic -> reboot -> resume path runs for real. Only in a guest the
// orchestrator started (AIOH_VM_GUEST) that opted in (AIOH_ALLOW_PANIC=1);
// anywhere else it skips and does nothing.
void sysrq_panic(CaseContext& ctx) {
  const char* guest = getenv("AIOH_VM_GUEST");
  const char* allow = getenv("AIOH_ALLOW_PANIC");
  if (!guest || strcmp(guest, "1") != 0) ctx.skip("test-only: panics the kernel, runs only in a VM guest of scripts/matrix");
  if (!allow || strcmp(allow, "1") != 0) ctx.skip("test-only: the guest did not opt in (scripts/matrix --test-allow-panic)");
  int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
  if (fd < 0) ctx.broken(std::string("cannot open /proc/sysrq-trigger: ") + strerror(errno));
  sync();
  (void)!write(fd, "c", 1);
  // Still here: the kernel did not crash.
  close(fd);
  ctx.broken("wrote 'c' to /proc/sysrq-trigger and the kernel did not panic");
}

}  // namespace
}  // namespace aioh

AIOH_SCENARIO(fault_device_rw, aioh::param::choice("op", "read", {"read", "write", "fsync"}, "the requests"),
              aioh::param::integer("count", 1, "requests (fsync: one)", 1, 256),
              aioh::param::integer("len", 4096, "bytes per request (O_DIRECT)", 512, aioh::param::kMaxBufferSize),
              aioh::param::integer("gap", 0, "bytes between requests, so the block layer does not merge them", 0,
                                   aioh::param::kMaxBufferSize),
              aioh::param::integer("at", 0, "the request that starts at the faulted sector (below count)", 0, 255)) {
  aioh::fault_device_rw(ctx);
}
AIOH_SCENARIO(sysrq_panic, aioh::param::none) { aioh::sysrq_panic(ctx); }
AIOH_SCENARIO(device_inflight_cancel, aioh::param::none) { aioh::device_inflight_cancel(ctx); }
