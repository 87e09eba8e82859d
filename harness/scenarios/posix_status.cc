// POSIX AIO status retrieval (area posix-status): aio_error reports
// EINPROGRESS while a request is pending and its final status afterwards;
// aio_return may be called again after the first retrieval (glibc returns
// the stored value); aio_return before completion is undefined by POSIX, so
// only what follows it is asserted; and on an aiocb that was never submitted
// glibc's aio_error/aio_return simply read the zeroed fields, where the man
// pages promise EINVAL (a NULL aiocb is dereferenced: SIGSEGV, observed in a
// forked child). Each answer is read through the backend's convention-
// checked aio_error/aio_return wrappers.
#include <sys/wait.h>

#include <cstring>

#include "posix_util.h"

namespace aioh {
namespace {

// A read on an empty pipe stays EINPROGRESS until the pipe is fed; then its
// status becomes 0 and aio_return the byte count, with the bytes intact.
AIOH_SCENARIO(posix_status_progress, aioh::posix::aio_threads_param(),
              aioh::param::integer("len", 16, "bytes the pending read asks for", 1, 4096),
              aioh::param::choice("peek", "error", {"error", "return"}, "what is called while the read blocks")) {
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
  // peek = "return": aio_return before completion, whose value and effect
  // POSIX leaves undefined: its value is only noted (glibc has stored
  // pread's ESPIPE -1 by the time the worker sleeps in read(2)); what is
  // asserted is that the request is still in progress after it and then
  // completes normally.
  if (ctx.str("peek") == "return") {
    if (!posix::worker_in_read(p.r)) ctx.broken("no worker was seen in read(2) on the pipe");
    ctx.note("aio_return before completion: " + be.return_of(be.control_block(1)).str());
  }
  ctx.observe(be.error_of(be.control_block(1)));
  if (!p.feed(n)) ctx.broken("cannot feed the pipe");
  posix::observe_read_back(ctx, be, buf.data(), kWriteSeed, 0, "pipe bytes read back wrong");
}

// aio_return, then aio_return and aio_error again on the same aiocb.
AIOH_SCENARIO(posix_status_return_twice, aioh::posix::aio_threads_param(),
              aioh::param::integer("len", 4096, "aio_nbytes", 1, 65536),
              aioh::param::integer("offset", 0, "aio_offset", 0),
              aioh::param::integer("file_size", 16384, "scratch file size", 0)) {
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
  posix::observe_read_back(ctx, be, buf.data(), kFileSeed, off, "data read back wrong");  // first aio_error + aio_return
  ctx.observe(be.return_of(be.control_block(1)));
  ctx.observe(be.error_of(be.control_block(1)));
  close(fd);
}

// aio_error or aio_return on a zeroed aiocb that never went to glibc, or on
// NULL (in a forked child: the signal that ends it is the observation).
AIOH_SCENARIO(posix_status_unsubmitted, aioh::posix::aio_threads_param(),
              aioh::param::choice("call", "error", {"error", "return"}, "aio_error or aio_return"),
              aioh::param::boolean("null", false, "pass NULL instead of a zeroed aiocb")) {
  auto& be = posix::setup(ctx);
  aiocb cb;
  std::memset(&cb, 0, sizeof cb);
  const bool err = ctx.str("call") == "error";
  if (!ctx.flag("null")) {
    ctx.observe(err ? be.error_of(&cb) : be.return_of(&cb));
    return;
  }
  pid_t pid = fork();
  if (pid < 0) ctx.broken("fork failed");
  if (pid == 0) {
    aiocb* volatile none = nullptr;
    _exit(err ? aio_error(none) : static_cast<int>(aio_return(none)));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFSIGNALED(status)) {
    ctx.observe(Outcome::ok(WEXITSTATUS(status), Channel::ret, Phase::completion));
    return;
  }
  const char* abbrev = sigabbrev_np(WTERMSIG(status));
  ctx.observe(Outcome::ok(WTERMSIG(status), Channel::ret, Phase::completion, abbrev ? std::string("SIG") + abbrev : ""));
}

}  // namespace
}  // namespace aioh
