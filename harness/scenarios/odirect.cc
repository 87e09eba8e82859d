// O_DIRECT alignment on the scratch filesystem: one read or write with a
// chosen buffer misalignment, file offset and length. The table predicts the
// answer from the probed STATX_DIOALIGN (or the logical block size): aligned
// requests transfer and are verified byte for byte; misaligned ones fail with
// EINVAL in the phase each interface reports it. And the page cache kept
// coherent around O_DIRECT: dirty pages written back before a direct read,
// cached pages invalidated by a direct write.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common.h"
#include "errno_names.h"

AIOH_SCENARIO(dio_rw,
              aioh::param::choice("op", "read", {"read", "write", "readv", "writev"}, "the request"),
              aioh::param::integer("len", 4096, "bytes to transfer", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 0, "file offset of the request"),
              aioh::param::integer("buf_misalign", 0, "bytes the buffer starts past a 4096-aligned address", 0, 4095),
              aioh::param::integer("file_size", 1 << 20, "bytes of the O_DIRECT scratch file", 0,
                                   aioh::param::kMaxFileSize)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  std::string op = ctx.str("op");
  bool is_write = op == "write" || op == "writev";
  size_t len = ctx.num("len");
  int64_t offset = ctx.num("offset");
  size_t misalign = ctx.num("buf_misalign");
  int fd = ctx.scratch_file("data", ctx.num("file_size"), O_RDWR | O_DIRECT);
  if (fd < 0) {
    ctx.observe(Outcome::error(errno, Channel::errno_, Phase::open));
    return;
  }
  AlignedBuffer buf(std::max<size_t>(len, 1), 4096, misalign);
  if (is_write) fill_pattern(buf.data(), len, kWriteSeed, offset);
  Request r;
  r.tag = 1;
  r.fd = fd;
  r.offset = offset;
  if (op == "readv" || op == "writev") {
    r.op = is_write ? Op::writev : Op::readv;
    r.iov = {{buf.data(), len}};
  } else {
    r.op = is_write ? Op::write : Op::read;
    r.buf = buf.data();
    r.len = len;
  }
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (!got.count(1) || got[1].result.is_error) return;
  if (is_write) {
    std::string bad = verify_file(fd, offset, static_cast<size_t>(got[1].result.value), kWriteSeed);
    ctx.check(bad.empty(), "O_DIRECT write reported success but " + bad);
  } else {
    scn::verify_read(ctx, got[1], buf.data(), offset);
  }
}

namespace aioh {
namespace {

constexpr size_t kCoherentSize = 65536, kDirtyAt = 4096, kDirtyLen = 8192, kDirectLen = 16384;

// The file's bytes at [off, off + len) as the case left them: the scratch
// pattern except the range [at, at + n) that carries kWriteSeed.
std::string verify_mixed(const uint8_t* got, size_t off, size_t len, size_t at, size_t n) {
  std::vector<uint8_t> want(len);
  fill_pattern(want.data(), len, kFileSeed, off);
  fill_pattern(want.data() + (at - off), n, kWriteSeed, at);
  for (size_t i = 0; i < len; ++i)
    if (got[i] != want[i]) return "byte " + std::to_string(off + i) + " differs";
  return "";
}

// Page cache and O_DIRECT on one file. mode "dirty_then_direct": pages
// dirtied through a buffered fd (never synced, the rest dropped from the
// cache) are read through an O_DIRECT fd by the interface: the kernel writes
// the range back first (mm/filemap.c kiocb_write_and_wait(), called by
// generic_file_read_iter() and iomap_dio_rw() for IOCB_DIRECT), so the read
// returns the new bytes. mode "direct_then_cached": the range is read
// buffered (cached), then written through O_DIRECT by the interface: the
// kernel invalidates the cached pages (kiocb_invalidate_pages() before,
// kiocb_invalidate_post_direct_write() after), so a buffered read returns the
// new bytes, not the stale cache.
// On a raw block device target the same holds for the device's page cache
// (block/fops.c), after the range is given the scratch pattern.
int open_cached(CaseContext& ctx, const std::string& device) {
  if (device.empty()) return ctx.scratch_file("data", kCoherentSize, O_RDWR);
  int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fd;
  std::vector<uint8_t> pattern(kCoherentSize);
  fill_pattern(pattern.data(), pattern.size(), kFileSeed, 0);
  if (pwrite(fd, pattern.data(), pattern.size(), 0) != static_cast<ssize_t>(pattern.size()) || fsync(fd) != 0)
    ctx.broken("cannot write the pattern to " + device);
  return fd;
}

AIOH_SCENARIO(dio_coherence,
              aioh::param::choice("mode", "dirty_then_direct", {"dirty_then_direct", "direct_then_cached"},
                                  "which side of the page cache moves first"),
              aioh::param::text("target_device", "", "set by the runner for a block-device target")) {
  scn::setup_or_broken(ctx);
  const bool dirty_first = ctx.str("mode") == "dirty_then_direct";
  const std::string device = ctx.str("target_device");
  int cached = open_cached(ctx, device);
  if (cached < 0) ctx.broken(std::string("cannot open the target buffered: ") + errno_name(errno));
  const std::string path = device.empty() ? ctx.scratch_dir() + "/data" : device;
  int direct = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (direct < 0) ctx.broken(std::string("cannot open the target with O_DIRECT: ") + errno_name(errno));
  AlignedBuffer buf(kDirectLen, 4096, 0);
  std::vector<uint8_t> mine(kDirtyLen), back(kDirectLen);
  fill_pattern(mine.data(), mine.size(), kWriteSeed, kDirtyAt);
  Request r;
  r.tag = 1;
  r.fd = direct;
  if (dirty_first) {
    posix_fadvise(cached, 0, 0, POSIX_FADV_DONTNEED);
    if (pwrite(cached, mine.data(), kDirtyLen, kDirtyAt) != static_cast<ssize_t>(kDirtyLen))
      ctx.broken("buffered pwrite failed");
    r.op = Op::read;
    r.buf = buf.data();
    r.len = kDirectLen;
    r.offset = 0;
  } else {
    if (pread(cached, back.data(), kDirectLen, 0) != static_cast<ssize_t>(kDirectLen))
      ctx.broken("buffered pread failed");
    std::memcpy(buf.data(), mine.data(), kDirtyLen);
    r.op = Op::write;
    r.buf = buf.data();
    r.len = kDirtyLen;
    r.offset = kDirtyAt;
  }
  if (scn::submit_observed(ctx, {&r}) >= 1) {
    auto got = scn::reap_observed(ctx, 1);
    if (got.count(1) && !got[1].result.is_error) {
      if (dirty_first) {
        std::string bad = verify_mixed(static_cast<const uint8_t*>(buf.data()), 0, kDirectLen, kDirtyAt, kDirtyLen);
        ctx.check(bad.empty(), "the O_DIRECT read missed the dirty page cache: " + bad);
      } else {
        const bool read = pread(cached, back.data(), kDirectLen, 0) == static_cast<ssize_t>(kDirectLen);
        std::string bad = read ? verify_mixed(back.data(), 0, kDirectLen, kDirtyAt, kDirtyLen) : "pread failed";
        ctx.check(bad.empty(), "a buffered read after the O_DIRECT write saw stale cache: " + bad);
      }
    }
  }
  ::close(direct);
  ::close(cached);
}

}  // namespace
}  // namespace aioh
