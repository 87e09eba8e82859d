// O_DIRECT alignment on the scratch filesystem: one read or write with a
// chosen buffer misalignment, file offset and length. The table predicts the
// answer from the probed STATX_DIOALIGN (or the logical block size): aligned
// requests transfer and are verified byte for byte; misaligned ones fail with
// EINVAL in the phase each interface reports it.
#include <fcntl.h>

#include "common.h"

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
