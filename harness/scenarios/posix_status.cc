// POSIX AIO status retrieval (area posix-status): aio_error reports
// EINPROGRESS while a request is pending and its final status afterwards;
// aio_return may be called again after the first retrieval (glibc returns
// the stored value); and on an aiocb that was never submitted glibc's
// aio_error/aio_return simply read the zeroed fields, where the man pages
// promise EINVAL. Each answer is read through the backend's convention-
// checked aio_error/aio_return wrappers.
#include <cstring>

#include "posix_util.h"

namespace aioh {
namespace {

// A read on an empty pipe stays EINPROGRESS until the pipe is fed; then its
// status becomes 0 and aio_return the byte count, with the bytes intact.
AIOH_SCENARIO(posix_status_progress, aioh::posix::aio_threads_param(),
              aioh::param::integer("len", 16, "bytes the pipe read asks for (and is fed)", 1, 65536),
              aioh::param::choice("peek", "error", {"error", "return"},
                                  "what is asked before completion: aio_error, or aio_return (undefined by POSIX)")) {
  auto& be = posix::setup(ctx);
  posix::Pipe p(ctx);
  const size_t n = static_cast<size_t>(ctx.num("len"));
  std::vector<uint8_t> buf(n);
  Request r = posix::req(Op::read, p.r, buf.data(), n, 0, 1);
  Outcome s = be.submit({&r});
  if (s.is_error) {
    ctx.observe(s);
    return;
  }
  // peek = "return": aio_return before completion, undefined by POSIX.
  // Read once the worker sleeps in read(2): glibc has then stored pread's
  // ESPIPE -1 before falling back to read.
  if (ctx.str("peek") == "return") {
    if (!posix::worker_in_read(p.r)) ctx.broken("no worker was seen in read(2) on the pipe");
    ctx.observe(be.return_of(be.control_block(1)));
  }
  else ctx.observe(be.error_of(be.control_block(1)));
  if (!p.feed(n)) ctx.broken("cannot feed the pipe");
  posix::Reaper reaper(be);
  Outcome c = reaper.get(1);
  ctx.observe(c);
  if (!c.is_error) ctx.check(verify_buffer(buf.data(), c.value, kWriteSeed, 0).empty(),
                             "pipe bytes read back wrong");
}

// aio_return, then aio_return and aio_error again on the same aiocb.
AIOH_SCENARIO(posix_status_return_twice, aioh::posix::aio_threads_param(),
              aioh::param::integer("len", 4096, "bytes to read", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 0, "file offset of the read"),
              aioh::param::integer("file_size", 16384, "bytes of the file", 0, aioh::param::kMaxFileSize)) {
  auto& be = posix::setup(ctx);
  const size_t n = static_cast<size_t>(ctx.num("len"));
  const int64_t off = ctx.num("offset");
  int fd = posix::data_file(ctx, "f", static_cast<size_t>(ctx.num("file_size")));
  std::vector<uint8_t> buf(n);
  Request r = posix::req(Op::read, fd, buf.data(), n, off, 1);
  Outcome s = be.submit({&r});
  if (s.is_error) {
    ctx.observe(s);
    return;
  }
  posix::Reaper reaper(be);
  Outcome c = reaper.get(1);  // first aio_error + aio_return
  ctx.observe(c);
  if (!c.is_error)
    ctx.check(verify_buffer(buf.data(), c.value, kFileSeed, off).empty(), "data read back wrong");
  ctx.observe(be.return_of(be.control_block(1)));
  ctx.observe(be.error_of(be.control_block(1)));
  close(fd);
}

// aio_error or aio_return on a zeroed aiocb that never went to glibc.
AIOH_SCENARIO(posix_status_unsubmitted, aioh::posix::aio_threads_param(),
              aioh::param::choice("call", "error", {"error", "return"}, "aio_error or aio_return")) {
  auto& be = posix::setup(ctx);
  aiocb cb;
  std::memset(&cb, 0, sizeof cb);
  std::string call = ctx.str("call");
  if (call == "error") ctx.observe(be.error_of(&cb));
  else if (call == "return") ctx.observe(be.return_of(&cb));
  else ctx.broken("unknown call " + call);
}

}  // namespace
}  // namespace aioh
