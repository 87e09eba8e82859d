// POSIX AIO submission checks (area posix-submit): which phase reports a bad
// fd, a negative offset, a huge aio_nbytes, a NULL buffer, an out-of-range
// aio_reqprio, an invalid aio_fsync op. glibc validates only aio_reqprio
// (aio_read/aio_write) and the op and the fd (aio_fsync) at submission;
// everything else is found by the worker thread's pread/pwrite and reported
// through aio_error, which the man pages list as errors of the submitting
// call. Data is verified wherever bytes move, and a failed write must leave
// the file as it was.
#include <climits>
#include <cstdint>
#include <cstring>

#include "posix_util.h"

namespace aioh {
namespace {

// An fd number that is certainly closed: dup one, then close it.
int closed_fd(CaseContext& ctx) {
  int fd = dup(STDIN_FILENO);
  if (fd < 0) ctx.broken("dup failed");
  close(fd);
  return fd;
}

size_t nbytes_param(CaseContext& ctx) {
  if (!ctx.has("nbytes")) return static_cast<size_t>(ctx.num("len"));
  std::string s = ctx.str("nbytes");
  if (s == "size_max") return SIZE_MAX;
  if (s == "ssize_max_plus_1") return static_cast<size_t>(SSIZE_MAX) + 1;
  ctx.broken("unknown nbytes " + s);
}

// One aio_read/aio_write; observes the submission and, when accepted, the
// completion.
AIOH_SCENARIO(posix_submit_rw, aioh::posix::aio_threads_param(),
              aioh::param::choice("op", "read", {"read", "write"}, "aio_read or aio_write"),
              aioh::param::choice("fd", "file", {"file", "bad", "rdonly", "pipe"},
                                  "the descriptor: the file, a closed one, the file read-only, a pipe"),
              aioh::param::integer("file_size", 16384, "bytes of the file", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("offset", 0, "aio_offset"),
              aioh::param::integer("len", 4096, "aio_nbytes (the buffer holds 64 KiB)", 0, 65536),
              aioh::param::optional_choice("nbytes", {"size_max", "ssize_max_plus_1"}, "a huge aio_nbytes instead of len"),
              aioh::param::integer("pipe_fill", 0, "bytes in the pipe before an aio_read from it", 0, 65536),
              aioh::param::choice("buf", "ok", {"ok", "null"}, "aio_buf: ours, or NULL"),
              aioh::param::integer("reqprio", 0, "aio_reqprio", INT32_MIN, INT32_MAX),
              aioh::param::boolean("status_after_reject", false, "observe aio_error after a refused submission")) {
  auto& be = posix::setup(ctx);
  const std::string op = ctx.str("op");
  const std::string fdkind = ctx.str("fd");
  const size_t file_size = static_cast<size_t>(ctx.num("file_size"));
  const int64_t off = ctx.num("offset");
  const size_t len = nbytes_param(ctx);
  const size_t buf_size = 65536;
  const bool is_read = op == "read";
  if (!is_read && op != "write") ctx.broken("unknown op " + op);

  int rw = posix::data_file(ctx, "f", file_size);
  std::unique_ptr<posix::Pipe> pipe;
  int fd = rw;
  if (fdkind == "bad") {
    fd = closed_fd(ctx);
  } else if (fdkind == "rdonly") {
    fd = posix::data_file(ctx, "f", file_size, O_RDONLY);
  } else if (fdkind == "pipe") {
    pipe = std::make_unique<posix::Pipe>(ctx);
    fd = is_read ? pipe->r : pipe->w;
    if (is_read && !pipe->feed(static_cast<size_t>(ctx.num("pipe_fill"))))
      ctx.broken("cannot fill the pipe");
  } else if (fdkind != "file") {
    ctx.broken("unknown fd kind " + fdkind);
  }
  AlignedBuffer buf(buf_size);
  if (is_read) std::memset(buf.data(), 0, buf_size);
  else fill_pattern(buf.data(), std::min(len, buf_size), kWriteSeed, fdkind == "pipe" ? 0 : off);
  void* data = ctx.str("buf") == "null" ? nullptr : buf.data();

  Request r = posix::req(is_read ? Op::read : Op::write, fd, data, len, off, 1);
  r.reqprio = static_cast<int>(ctx.num("reqprio"));
  Outcome s = be.submit({&r});
  ctx.observe(s);
  if (s.is_error) {
    // glibc stores the refusal in the aiocb too (aio_misc.c
    // __aio_enqueue_request); rows that assert it ask for it.
    if (ctx.flag("status_after_reject")) ctx.observe(be.error_of(be.control_block(1)));
    return;
  }
  posix::Reaper reaper(be);
  Outcome c = reaper.get(1);
  ctx.observe(c);
  if (c.is_error) {
    if (!is_read && fdkind != "pipe" && len <= buf_size && off >= 0)
      ctx.check(verify_file(rw, off, len, kFileSeed).empty(),
                "a failed aio_write changed the file: " + verify_file(rw, off, len, kFileSeed));
    return;
  }
  size_t got = static_cast<size_t>(c.value);
  if (is_read) {
    uint64_t seed = fdkind == "pipe" ? kWriteSeed : kFileSeed;
    uint64_t at = fdkind == "pipe" ? 0 : static_cast<uint64_t>(off);
    std::string bad = verify_buffer(buf.data(), got, seed, at);
    ctx.check(bad.empty(), "aio_read data: " + bad);
  } else if (fdkind == "pipe") {
    std::vector<uint8_t> back(got);
    ctx.check(read(pipe->r, back.data(), got) == static_cast<ssize_t>(got) &&
                  verify_buffer(back.data(), got, kWriteSeed, 0).empty(),
              "bytes written to the pipe read back wrong");
  } else {
    std::string bad = verify_file(rw, off, got, kWriteSeed);
    ctx.check(bad.empty(), "aio_write data: " + bad);
  }
}

int fsync_op(CaseContext& ctx) {
  std::string s = ctx.str("sync_op");
  if (s == "O_SYNC") return O_SYNC;
  if (s == "O_DSYNC") return O_DSYNC;
  if (s == "O_RDWR") return O_RDWR;
  if (s == "zero") return 0;
  ctx.broken("unknown sync_op " + s);
}

// aio_fsync(op, aiocb) with the row's op and fd; aio_reqprio may be set to
// check that glibc ignores (and clears) it for sync requests.
AIOH_SCENARIO(posix_submit_fsync, aioh::posix::aio_threads_param(),
              aioh::param::choice("fd", "file", {"file", "rdonly", "bad"},
                                  "the descriptor: the file, the file read-only, a closed one"),
              aioh::param::choice("sync_op", "O_SYNC", {"O_SYNC", "O_DSYNC", "O_RDWR", "zero"}, "aio_fsync's op"),
              aioh::param::integer("reqprio", 0, "aio_reqprio", INT32_MIN, INT32_MAX),
              aioh::param::optional_integer("reqprio_after", "the aio_reqprio glibc must leave after aio_fsync",
                                            INT32_MIN, INT32_MAX)) {
  auto& be = posix::setup(ctx);
  const std::string fdkind = ctx.str("fd");
  int fd = posix::data_file(ctx, "f", 4096, fdkind == "rdonly" ? O_RDONLY : O_RDWR);
  if (fdkind == "bad") fd = closed_fd(ctx);
  Request r = posix::req(Op::fsync, fd, nullptr, 0, 0, 1);
  r.reqprio = static_cast<int>(ctx.num("reqprio"));
  Outcome s = be.submit_fsync(&r, fsync_op(ctx));
  ctx.observe(s);
  if (s.is_error) return;
  if (ctx.has("reqprio_after"))
    ctx.check(be.control_block(1)->aio_reqprio == ctx.num("reqprio_after"),
              "aio_reqprio after aio_fsync is " +
                  std::to_string(be.control_block(1)->aio_reqprio));
  posix::Reaper reaper(be);
  ctx.observe(reaper.get(1));
}

}  // namespace
}  // namespace aioh
