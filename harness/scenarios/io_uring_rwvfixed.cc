// IORING_OP_READV_FIXED / WRITEV_FIXED (6.15): vectored I/O whose iovecs
// point into a registered buffer (sqe->buf_index), so no page is pinned per
// request. Two 4 KiB segments 8 KiB apart inside one registered 16 KiB buffer
// are read from / written to the scratch file and verified byte for byte;
// a segment outside the registered buffer and a buffer index past the table
// are refused. liburing 2.3 has no prep helpers for them: the SQE is a
// READV/WRITEV one with the fixed opcode and buf_index.
#include <sys/uio.h>

#include <cstring>

#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr size_t kSeg = 4096, kBuf = 16384;

// op:
//  readv        two segments (buffer +0 and +8192) read from file offset 0:
//               res, both segments hold the file's first 8 KiB in order (1).
//  writev       the same segments, filled with the write pattern, written at
//               file offset 0: res, the file's first 8 KiB read back (1).
//  readv-outside the second segment ends 4 KiB past the registered buffer: res.
//  readv-bad-index buf_index 1 of a one-buffer table: res.
//  readv-zero-seg the second segment of length 0: res.
AIOH_URING_CHOICE_SCENARIO(uring_rwv_fixed, 8, op, "readv", "the request and its case",
                           "readv", "writev", "readv-outside", "readv-bad-index", "readv-zero-seg") {
  int fd = ctx.scratch_file("rwv", 65536, O_RDWR | O_CLOEXEC);
  // Registered region: 16 KiB, plus 8 KiB of ordinary memory after it for the outside case.
  AlignedBuffer mem(kBuf + 8192, 4096);
  uint8_t* buf = static_cast<uint8_t*>(mem.data());
  std::memset(buf, 0, kBuf + 8192);
  iovec reg = {buf, kBuf};
  if (int r = io_uring_register_buffers(&be.ring(), &reg, 1); r < 0) ctx.broken("register buffers: " + errno_name(-r));
  const bool write = op == "writev";
  if (write) {
    fill_pattern(buf, kSeg, kWriteSeed, 0);
    fill_pattern(buf + 8192, kSeg, kWriteSeed, kSeg);
  }
  iovec iov[2] = {{buf, kSeg}, {buf + (op == "readv-outside" ? 16384 : 8192), op == "readv-zero-seg" ? 0 : kSeg}};
  submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
    io_uring_prep_rw(write ? kOpWritevFixed : kOpReadvFixed, s, fd, iov, 2, 0);
    s->buf_index = op == "readv-bad-index" ? 1 : 0;
  });
  const int r = reap(ctx, be, 1)[0].res;
  ctx.observe(IoUringBackend::res_outcome(r));
  if (r == 2 * static_cast<int>(kSeg)) {
    bool ok;
    if (write)
      ok = verify_file(fd, 0, 2 * kSeg, kWriteSeed).empty();
    else
      ok = verify_buffer(buf, kSeg, kFileSeed, 0).empty() && verify_buffer(buf + 8192, kSeg, kFileSeed, kSeg).empty();
    ctx.observe(Outcome::ok(ok ? 1 : 0, Channel::ret, Phase::completion));
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
