// What statx(2) reports for O_DIRECT on a target, and that it is true
// through each interface: the STATX_DIOALIGN bit (Linux 6.1 for files, 6.11
// for block devices; absent on 5.x) and STATX_DIO_READ_ALIGN (6.14, only
// where the filesystem fills it), then one read through the interface at
// exactly the reported alignment (memory stx_dio_mem_align, offset and
// length the reported offset alignment rounded up to 4096), which must
// transfer and verify. Where the bit is set on a raw block device the values
// must equal the sysfs geometry (dma_alignment + 1, logical_block_size), and
// where it is clear the fields must be zero; STATX_WRITE_ATOMIC's units must
// be powers of two with min <= max and come with STATX_ATTR_WRITE_ATOMIC;
// any breach fails the case.
// A pipe is a special inode with no O_DIRECT alignment (no bit, zero
// fields) whose O_DIRECT means something else: packet mode (pipe(2)), where
// each write is a packet and a read shorter than the packet discards the
// rest; two writes and two reads through the interface show it.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "common.h"
#include "errno_names.h"

namespace aioh {
namespace {

constexpr unsigned kDioalign = 0x00002000U, kWriteAtomic = 0x00010000U, kDioReadAlign = 0x00020000U;
constexpr uint64_t kAttrWriteAtomic = 0x00400000ULL;  // STATX_ATTR_WRITE_ATOMIC
constexpr size_t kMask = 0, kAttributes = 8, kMem = 152, kOff = 156, kAtomicMin = 168, kAtomicMax = 172,
                 kReadOff = 180;

uint32_t u32(const unsigned char* b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

struct Reported {
  bool dioalign = false, read_align = false, atomic = false, atomic_attr = false;
  uint32_t mem = 0, off = 0, read_off = 0, atomic_min = 0, atomic_max = 0;
};

Reported statx_of(CaseContext& ctx, int fd) {
  unsigned char b[256] = {};
  if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, kDioalign | kDioReadAlign | kWriteAtomic, b) != 0)
    ctx.broken(std::string("statx failed: ") + errno_name(errno));
  Reported r;
  r.dioalign = u32(b, kMask) & kDioalign;
  r.read_align = u32(b, kMask) & kDioReadAlign;
  r.mem = u32(b, kMem);
  r.off = u32(b, kOff);
  r.read_off = u32(b, kReadOff);
  r.atomic = u32(b, kMask) & kWriteAtomic;
  r.atomic_min = u32(b, kAtomicMin);
  r.atomic_max = u32(b, kAtomicMax);
  uint64_t attrs;
  std::memcpy(&attrs, b + kAttributes, sizeof attrs);
  r.atomic_attr = attrs & kAttrWriteAtomic;
  return r;
}

bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

// statx(2) STATX_WRITE_ATOMIC: units are powers of two with min <= max, and
// STATX_ATTR_WRITE_ATOMIC is set exactly when a unit is reported.
void check_atomic(CaseContext& ctx, const Reported& r) {
  if (!r.atomic || (!r.atomic_min && !r.atomic_max)) {
    ctx.check(!r.atomic_attr, "STATX_ATTR_WRITE_ATOMIC set without atomic write units");
    return;
  }
  ctx.check(pow2(r.atomic_min) && pow2(r.atomic_max) && r.atomic_min <= r.atomic_max,
            "atomic write units " + std::to_string(r.atomic_min) + ".." + std::to_string(r.atomic_max) +
                " are not powers of two with min <= max");
  ctx.check(r.atomic_attr, "atomic write units reported but STATX_ATTR_WRITE_ATOMIC clear");
}

void check_fields(CaseContext& ctx, const Reported& r, bool raw) {
  if (!r.dioalign) {
    ctx.check(r.mem == 0 && r.off == 0, "STATX_DIOALIGN not reported but the fields are " + std::to_string(r.mem) +
                                            "/" + std::to_string(r.off));
    return;
  }
  auto lbs = ctx.env().number("logical_block_size");
  auto dma = ctx.env().number("dma_alignment");
  if (raw && lbs)
    ctx.check(r.off == *lbs, "stx_dio_offset_align " + std::to_string(r.off) + ", sysfs logical_block_size " +
                                 std::to_string(*lbs));
  if (raw && dma)
    ctx.check(r.mem == *dma + 1, "stx_dio_mem_align " + std::to_string(r.mem) + ", sysfs dma_alignment + 1 = " +
                                     std::to_string(*dma + 1));
}

// One request through the interface, its completion observed.
Outcome one(CaseContext& ctx, Op op, int fd, void* buf, size_t len, uint64_t tag) {
  Request r = scn::read_req(fd, buf, len, 0, tag);
  r.op = op;
  if (scn::submit_observed(ctx, {&r}) < 1) return Outcome::error(EIO, Channel::ret, Phase::submit);
  auto got = scn::reap_observed(ctx, 1);
  return got.count(tag) ? got[tag].result : Outcome::error(EIO, Channel::ret, Phase::wait);
}

void packet_pipe(CaseContext& ctx) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_DIRECT) != 0) ctx.broken(std::string("pipe2(O_DIRECT) failed: ") + errno_name(errno));
  Reported r = statx_of(ctx, p[0]);
  ctx.observe(Outcome::ok(r.dioalign, Channel::ret, Phase::open));
  ctx.observe(Outcome::ok(r.mem, Channel::ret, Phase::open));
  ctx.observe(Outcome::ok(r.off, Channel::ret, Phase::open));
  scn::setup_or_broken(ctx);
  std::vector<uint8_t> a(100), b(50), in(100);
  fill_pattern(a.data(), a.size(), kWriteSeed, 0);
  fill_pattern(b.data(), b.size(), kWriteSeed, 100);
  one(ctx, Op::write, p[1], a.data(), a.size(), 1);
  one(ctx, Op::write, p[1], b.data(), b.size(), 2);
  Outcome first = one(ctx, Op::read, p[0], in.data(), 10, 3);
  if (!first.is_error) ctx.check(verify_buffer(in.data(), 10, kWriteSeed, 0).empty(), "the first packet's bytes are wrong");
  Outcome second = one(ctx, Op::read, p[0], in.data(), in.size(), 4);
  if (!second.is_error && second.value > 0)
    ctx.check(verify_buffer(in.data(), static_cast<size_t>(second.value), kWriteSeed, 100).empty(),
              "the second read did not start at the second packet");
  close(p[0]);
  close(p[1]);
}

AIOH_SCENARIO(dio_statx,
              aioh::param::choice("inode", "target", {"target", "pipe"}, "the target's file or device, or a pipe"),
              aioh::param::text("target_device", "", "set by the runner for a block-device target")) {
  if (ctx.str("inode") == "pipe") return packet_pipe(ctx);
  const std::string device = ctx.str("target_device");
  const bool raw = !device.empty();
  int fd = raw ? open(device.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC)
               : ctx.scratch_file("data", 65536, O_RDONLY | O_DIRECT);
  if (fd < 0) ctx.broken(std::string("cannot open the target with O_DIRECT: ") + errno_name(errno));
  Reported r = statx_of(ctx, fd);
  ctx.observe(Outcome::ok(r.dioalign, Channel::ret, Phase::open));
  ctx.observe(Outcome::ok(r.read_align, Channel::ret, Phase::open));
  check_fields(ctx, r, raw);
  check_atomic(ctx, r);
  // The alignment to use: what statx said, else the probed geometry.
  const size_t mem = r.dioalign ? r.mem : static_cast<size_t>(ctx.env().number("dio_mem_align").value_or(4096));
  const size_t off = std::max<size_t>(4096, r.dioalign ? (r.read_align && r.read_off ? r.read_off : r.off) : 4096);
  if (raw) {
    // The device's bytes are whatever they are: read them buffered first.
    int bfd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<uint8_t> want(off);
    bool ok = bfd >= 0 && pread(bfd, want.data(), off, static_cast<off_t>(off)) == static_cast<ssize_t>(off);
    if (bfd >= 0) close(bfd);
    if (!ok) ctx.broken("cannot read the device buffered");
    scn::setup_or_broken(ctx);
    AlignedBuffer buf(off, 8192, mem < 8192 ? mem : 0);
    Request q = scn::read_req(fd, buf.data(), off, static_cast<int64_t>(off), 1);
    if (scn::submit_observed(ctx, {&q}) < 1) return;
    auto got = scn::reap_observed(ctx, 1);
    if (got.count(1) && !got[1].result.is_error)
      ctx.check(std::memcmp(buf.data(), want.data(), off) == 0, "the O_DIRECT read differs from the buffered one");
  } else {
    scn::setup_or_broken(ctx);
    AlignedBuffer buf(off, 8192, mem < 8192 ? mem : 0);
    Request q = scn::read_req(fd, buf.data(), off, static_cast<int64_t>(off), 1);
    if (scn::submit_observed(ctx, {&q}) < 1) return;
    auto got = scn::reap_observed(ctx, 1);
    if (got.count(1)) scn::verify_read(ctx, got[1], buf.data(), off);
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
