// The scenario of the block fault layer: one request through the interface
// to the faulty raw block device the layer made (faults/block.cc), whose
// first 128 KiB hold the scratch pattern. It observes where the device's
// error surfaces and with which errno, verifies a read reported successful
// returned the device's bytes, and reads every write reported successful back
// past the page cache: a write the device lost (dm-flakey drop_writes) is
// detected there and must be declared by the row (`lost_write`), so the
// expectation records what the interface reported and the check proves the
// data is gone. With `wait_ms` the first wait is that short: it must time out
// while a delayed request is still in flight at the device.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "errno_names.h"
#include "faults/block.h"
#include "scenarios/common.h"
#include "timespec.h"

namespace aioh {
namespace {

// The device's bytes at [off, off+len), read with O_DIRECT after dropping
// the block device's page cache; "" when the read fails (and *err set).
std::string read_back(const std::string& dev, int64_t off, size_t len, int* err) {
  int fd = open(dev.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return "";
  }
  ioctl(fd, BLKFLSBUF, 0);
  AlignedBuffer b(len);
  ssize_t n = pread(fd, b.data(), len, off);
  *err = n == static_cast<ssize_t>(len) ? 0 : n < 0 ? errno : EIO;
  close(fd);
  return *err ? "" : std::string(reinterpret_cast<char*>(b.data()), len);
}

void fault_block(CaseContext& ctx) {
  std::string dev = faults::block_device();
  if (dev.empty()) ctx.broken("the block fault layer made no device (row without a block fault?)");
  bool is_write = ctx.str("op") == "write";
  size_t len = static_cast<size_t>(ctx.num("len"));
  int64_t off = ctx.num("offset");
  if (off + static_cast<int64_t>(len) > (128 << 10)) ctx.broken("the row reaches past the prefilled 128 KiB");
  int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC | (ctx.flag("direct") ? O_DIRECT : 0));
  if (fd < 0) ctx.broken("cannot open " + dev + ": " + errno_name(errno));

  AlignedBuffer buf(len);
  if (is_write) fill_pattern(buf.data(), len, kWriteSeed, static_cast<uint64_t>(off));
  else memset(buf.data(), 0, len);
  Request r = scn::read_req(fd, buf.data(), len, off, 1);
  if (is_write) r.op = Op::write;

  faults::arm();
  Backend& be = ctx.backend();
  Outcome s = be.setup({});
  if (s.is_error) {
    faults::disarm();
    close(fd);
    ctx.broken("setup failed: " + s.str());
  }
  Outcome sub = be.submit({&r});
  ctx.observe(sub);
  std::map<uint64_t, Completion> got;
  if (!sub.is_error && sub.value > 0) {
    std::vector<Completion> out;
    if (int64_t ms = ctx.num("wait_ms"); ms > 0) {
      // The short wait: the device holds the request longer than this.
      Outcome w = be.wait(1, 1, ms_to_timespec(ms), out);
      ctx.observe(w);
      for (auto& c : out) got[c.tag] = c;
      ctx.check(out.empty(), "the short wait returned a completion while the device was still delaying it");
      out.clear();
    }
    if (got.empty()) {
      Outcome w = be.wait(1, 1, timespec{10, 0}, out);
      for (auto& c : out) got[c.tag] = c;
      if (w.is_error || got.empty()) ctx.observe(w);
    }
    for (auto& [_, c] : got) ctx.observe(c.result);
  }
  faults::disarm();

  auto it = got.find(1);
  bool ok = it != got.end() && !it->second.result.is_error;
  if (ok && !is_write) {
    scn::verify_read(ctx, it->second, buf.data(), static_cast<uint64_t>(off));
  } else if (ok && is_write) {
    size_t n = static_cast<size_t>(it->second.result.value);
    int err = 0;
    std::string back = read_back(dev, off, len, &err);
    if (err != 0) {
      ctx.check(false, "a write reported successful cannot be read back: " + std::string(errno_name(err)));
    } else if (ctx.flag("lost_write")) {
      // The row says this device loses writes: the read back must show the
      // old bytes, so the success the interface reported was a lie.
      std::string bad = verify_buffer(back.data(), len, kFileSeed, static_cast<uint64_t>(off));
      ctx.check(bad.empty(), "the write the device should have lost reads back as neither old nor lost: " + bad);
      if (bad.empty())
        ctx.note("lost write: the interface reported " + std::to_string(n) + " bytes written; the device kept the old bytes");
    } else {
      std::string bad = verify_buffer(back.data(), n, kWriteSeed, static_cast<uint64_t>(off));
      ctx.check(bad.empty(), "a write reported successful did not land: " + bad);
    }
  }
  Outcome t = be.teardown();
  ctx.check(!t.is_error, "teardown failed after the fault: " + t.str());
  close(fd);
}

}  // namespace
}  // namespace aioh

// The device's first 128 KiB are prefilled: a request must stay inside them.
AIOH_SCENARIO(fault_block, aioh::param::choice("op", "read", {"read", "write"}, "the request"),
              aioh::param::integer("len", 4096, "bytes to transfer", 1, 128 << 10),
              aioh::param::integer("offset", 0, "device offset of the request", 0, 128 << 10),
              aioh::param::boolean("direct", false, "open the device with O_DIRECT"),
              aioh::param::integer("wait_ms", 0, "a first, short wait that must time out (0: none)", 0,
                                   aioh::param::kMaxMs),
              aioh::param::boolean("lost_write", false, "the device loses writes: the old bytes must read back")) {
  aioh::fault_block(ctx);
}
