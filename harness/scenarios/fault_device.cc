// The scenarios of the vm fault layer (faults/vm.cc), run only in a guest the
// VM orchestrator booted with the row's blkdebug rules: requests through the
// interface at this interface's faulted sector of the raw disk (where the
// device's error surfaces, and that the bytes around it are intact), a read
// held at a throttled disk and then cancelled, and a test-only guest panic
// that exercises the orchestrator's panic -> reboot -> resume path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "pattern.h"
#include "scenarios/common.h"

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

// The faulted raw disk, open O_DIRECT for the case; closed when it ends.
struct DeviceFd {
  int fd;
  DeviceFd(CaseContext& ctx, const std::string& device) : fd(open(device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC)) {
    if (fd < 0) ctx.broken(fmt::format("cannot open {}: {}", device, errno_name(errno)));
  }
  ~DeviceFd() { close(fd); }
  DeviceFd(const DeviceFd&) = delete;
  DeviceFd& operator=(const DeviceFd&) = delete;
};

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
  DeviceFd dev(ctx, t.device);
  int fd = dev.fd;

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
      if (!raw_io(fd, true, bufs[i]->data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, errno_name(errno)));
      memset(bufs[i]->data(), 0, len);
      reqs[i] = scn::read_req(fd, bufs[i]->data(), len, off, 1 + i);
    } else if (op == "write") {
      // What a failed write must leave in place (the rule fails writes only).
      if (!raw_io(fd, false, before[i]->data(), len, off)) ctx.broken(fmt::format("reading offset {}: {}", off, errno_name(errno)));
      fill_pattern(bufs[i]->data(), len, kWriteSeed, static_cast<uint64_t>(off));
      reqs[i] = scn::read_req(fd, bufs[i]->data(), len, off, 1 + i);
      reqs[i].op = Op::write;
    } else if (op == "fsync") {
      // Something for the flush to carry to stable storage.
      fill_pattern(bufs[i]->data(), len, kWriteSeed, static_cast<uint64_t>(off));
      if (!raw_io(fd, true, bufs[i]->data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, errno_name(errno)));
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
        ctx.check(false, fmt::format("read-back of offset {} failed: {}", off, errno_name(errno)));
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
  DeviceFd dev(ctx, t.device);
  int fd = dev.fd;
  AlignedBuffer buf(len);
  fill_pattern(buf.data(), len, kFileSeed, static_cast<uint64_t>(off));
  if (!raw_io(fd, true, buf.data(), len, off)) ctx.broken(fmt::format("preparing offset {}: {}", off, errno_name(errno)));
  // Use up the throttle's burst so the case's own read waits in QEMU.
  for (int64_t i = 0; i < t.rule.iops + 2; i++)
    if (!raw_io(fd, false, buf.data(), len, off)) ctx.broken("burst read failed: " + std::string(errno_name(errno)));
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
  if (fd < 0) ctx.broken(std::string("cannot open /proc/sysrq-trigger: ") + errno_name(errno));
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
