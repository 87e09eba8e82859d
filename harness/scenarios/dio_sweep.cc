// The O_DIRECT sweep: one read, write, readv or writev with a chosen buffer
// alignment, file offset, length and iovec shape, run on a target (a file in
// the target's directory, or the target's block device itself). The table
// predicts success or EINVAL from the target's probed geometry; whatever
// succeeds is verified byte for byte, and a write must leave the bytes on
// either side of it untouched (a filesystem that falls back to buffered I/O
// must still put every byte in its place).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <cstring>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "common.h"
#include "errno_names.h"

namespace {

using namespace aioh;

std::vector<int64_t> int_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(std::stoll(item));
  return v;
}

// An aligned buffer per segment: exactly `align` aligned (AlignedBuffer puts
// a misalign of A on an 8192-aligned base, so the address is A mod 8192).
std::unique_ptr<AlignedBuffer> seg_buffer(size_t len, int64_t align) {
  size_t a = static_cast<size_t>(align);
  return std::make_unique<AlignedBuffer>(std::max<size_t>(len, 1), 4096, a >= 4096 ? 0 : a);
}

// Fills [lo, hi) of fd with the file pattern through the page cache and
// writes it back, so an O_DIRECT read sees it.
bool prefill(int fd, int64_t lo, int64_t hi) {
  std::vector<uint8_t> chunk(1 << 16);
  for (int64_t off = lo; off < hi; off += static_cast<int64_t>(chunk.size())) {
    size_t n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(chunk.size()), hi - off));
    fill_pattern(chunk.data(), n, kFileSeed, off);
    if (pwrite(fd, chunk.data(), n, off) != static_cast<ssize_t>(n)) return false;
  }
  return write_back(fd) == 0;
}

}  // namespace

// The runner sets target_device for a block-device target.
AIOH_SCENARIO(dio_sweep,
              aioh::param::choice("op", "read", {"open", "read", "write", "readv", "writev"},
                                  "the request (open: only open the file with O_DIRECT)"),
              aioh::param::integer("len", 4096, "bytes of a one-segment request", 0, aioh::param::kMaxBufferSize),
              aioh::param::optional_integers("segs", ',', "segment lengths of a vectored request, instead of len", 0,
                                             aioh::param::kMaxBufferSize),
              aioh::param::integer("buf_align", 4096, "each buffer's address alignment (4096 or more: page-aligned)", 0,
                                   4096),
              aioh::param::optional_integers("seg_align", ',', "per-segment alignments (the rest take buf_align)", 0,
                                             4096),
              aioh::param::integer("offset", 0, "file offset of the request", -aioh::param::kMaxFileSize,
                                   aioh::param::kMaxFileSize),
              aioh::param::optional_integer("from_end", "offset counted back from the end of the file or device",
                                            -aioh::param::kMaxFileSize, aioh::param::kMaxFileSize),
              aioh::param::optional_integer("file_size",
                                            "bytes of the file (absent: the request and 8 KiB, rounded up to 4 KiB)",
                                            0, aioh::param::kMaxFileSize),
              aioh::param::text("target_device", "", "set by the runner: the block device of a raw target")) {
  std::string op = ctx.str("op");
  bool vectored = op == "readv" || op == "writev";
  bool is_write = op == "write" || op == "writev";
  std::string device = ctx.str("target_device");
  std::vector<int64_t> segs = ctx.has("segs") ? int_list(ctx.str("segs")) : std::vector<int64_t>{ctx.num("len")};
  int64_t len = 0;
  for (auto s : segs) len += s;
  // Default: the request plus two blocks of neighbours, so small requests
  // do not pay for filling a large file.
  int64_t file_size =
      ctx.has("file_size") ? ctx.num("file_size") : ((ctx.num("offset") + len + 8192 + 4095) / 4096) * 4096;

  // The file (or device) under test, opened with O_DIRECT; an open refusal
  // is the observation (phase open) and nothing else runs.
  std::string path;
  int fd;
  if (!device.empty()) {
    path = device;
    fd = open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  } else {
    path = ctx.scratch_dir() + "/data";
    fd = ctx.scratch_file("data", static_cast<size_t>(file_size), O_RDWR | O_DIRECT);
  }
  if (fd < 0) {
    ctx.observe(Outcome::error(errno, Channel::errno_, Phase::open));
    return;
  }
  ctx.observe(Outcome::ok(0, Channel::errno_, Phase::open));
  if (op == "open") return;
  int vfd = open(path.c_str(), O_RDWR | O_CLOEXEC);  // buffered, to verify
  if (vfd < 0) ctx.broken("cannot open " + path + " for verification: " + errno_name(errno));

  std::vector<int64_t> aligns = ctx.has("seg_align") ? int_list(ctx.str("seg_align")) : std::vector<int64_t>{};
  aligns.resize(segs.size(), ctx.num("buf_align"));

  int64_t offset = ctx.num("offset");
  if (!device.empty()) {
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) ctx.broken("BLKGETSIZE64 failed");
    file_size = static_cast<int64_t>(size);
    if (ctx.has("from_end")) offset = file_size - ctx.num("from_end");
    // The bytes around the request carry the file pattern, as in a file.
    int64_t lo = std::max<int64_t>(0, (offset & ~int64_t{4095}) - 4096);
    int64_t hi = std::min<int64_t>(file_size, ((offset + len + 4095) & ~int64_t{4095}) + 4096);
    if (!prefill(vfd, lo, hi)) ctx.broken("cannot prefill " + device);
  } else if (ctx.has("from_end")) {
    offset = file_size - ctx.num("from_end");
  }

  scn::setup_or_broken(ctx);
  std::vector<std::unique_ptr<AlignedBuffer>> bufs;
  int64_t at = offset;
  for (size_t i = 0; i < segs.size(); i++) {
    bufs.push_back(seg_buffer(static_cast<size_t>(segs[i]), aligns[i]));
    if (is_write) fill_pattern(bufs.back()->data(), static_cast<size_t>(segs[i]), kWriteSeed, at);
    at += segs[i];
  }
  std::vector<iovec> iov;
  for (size_t i = 0; i < segs.size(); i++) iov.push_back({bufs[i]->data(), static_cast<size_t>(segs[i])});
  Request r = scn::rw_request(fd, offset, is_write, vectored, std::move(iov));
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (!got.count(1) || got[1].result.is_error) return;
  int64_t n = got[1].result.value;
  if (!ctx.check(n >= 0 && n <= len, "transfer count outside [0, len]")) return;

  if (is_write) {
    std::string bad = verify_file(vfd, static_cast<uint64_t>(offset), static_cast<size_t>(n), kWriteSeed);
    ctx.check(bad.empty(), "O_DIRECT write reported success but " + bad);
    // Neighbours: a block-granular fallback must not spill past the request.
    int64_t before = std::max<int64_t>(0, offset - 4096);
    bad = verify_file(vfd, static_cast<uint64_t>(before), static_cast<size_t>(offset - before), kFileSeed);
    ctx.check(bad.empty(), "bytes before the write changed: " + bad);
    int64_t after_end = std::min<int64_t>(file_size, offset + n + 4096);
    if (after_end > offset + n) {
      bad = verify_file(vfd, static_cast<uint64_t>(offset + n), static_cast<size_t>(after_end - offset - n), kFileSeed);
      ctx.check(bad.empty(), "bytes after the write changed: " + bad);
    }
  } else {
    // The segments, in order, hold file bytes [offset, offset + n).
    int64_t left = n, pos = offset;
    for (size_t i = 0; i < segs.size() && left > 0; i++) {
      int64_t k = std::min(left, segs[i]);
      std::string bad = verify_buffer(bufs[i]->data(), static_cast<size_t>(k), kFileSeed, static_cast<uint64_t>(pos));
      ctx.check(bad.empty(), fmt::format("segment {}: {}", i, bad));
      left -= k;
      pos += k;
    }
  }
  close(vfd);
}
