// POSIX AIO cancellation (area posix-cancel): aio_cancel answers
// AIO_CANCELED for a request still queued, AIO_NOTCANCELED for one a worker
// thread is running, AIO_ALLDONE for a finished one, and fails with EBADF for
// a closed fd and EINVAL when the aiocb belongs to another fd. glibc queues a
// second request on the same fd behind the first (one worker per fd), and a
// request on another fd behind a busy worker only when aio_init capped
// aio_threads, which is how AIO_CANCELED is reached without timing. A
// canceled request then reports ECANCELED through aio_error.
#include <cstring>

#include "posix_util.h"

namespace aioh {
namespace {

AIOH_SCENARIO(posix_cancel_blocked,
              aioh::param::choice("target", "running", {"running", "queued-same-fd", "queued-same-fd-twice", "queued-other-fd", "all-fd"}, "what is canceled (twice: the same aiocb once more after it was canceled)"),
              aioh::param::integer("aio_threads", 4, "aioinit.aio_threads", INT32_MIN, INT32_MAX),
              aioh::param::integer("init_after_first", 0, "aio_init(aio_threads = this) after the first request", 0, 64)) {
  auto& be = posix::setup(ctx);
  const std::string target = ctx.str("target");
  posix::Pipe a_pipe(ctx), b_pipe(ctx);
  const size_t n = 16;
  std::vector<uint8_t> abuf(n), bbuf(n);
  // The first request blocks a fresh worker thread on the empty pipe.
  Request a = posix::req(Op::read, a_pipe.r, abuf.data(), n, 0, 1);
  if (be.submit({&a}).is_error) ctx.broken("first aio_read refused");
  if (ctx.has("init_after_first")) {
    // Too late: glibc's pool exists now, so aio_threads is ignored.
    aioinit ai = be.aioinit_used();
    ai.aio_threads = static_cast<int>(ctx.num("init_after_first"));
    be.set_aioinit(ai);
    be.setup(SetupParams{});
  }
  posix::Reaper reaper(be);
  const posix::Pipe* second_pipe = nullptr;
  if (target == "running") {
    ctx.observe(be.cancel(a));
  } else {
    second_pipe = target == "queued-other-fd" ? &b_pipe : &a_pipe;
    Request b = posix::req(Op::read, second_pipe->r, bbuf.data(), n, 0, 2);
    if (be.submit({&b}).is_error) ctx.broken("second aio_read refused");
    Outcome c = target == "all-fd" ? be.cancel_raw(a_pipe.r, nullptr) : be.cancel(b);
    ctx.observe(c);
    // The canceled request is finished (ECANCELED): what a second cancel says.
    if (target == "queued-same-fd-twice" && c.sym == "AIO_CANCELED")
      ctx.observe(be.cancel_raw(a_pipe.r, be.control_block(2)));
    // A second request that was not canceled needs its own bytes. On the
    // same fd it runs after the first, so feed both at once.
    if (c.sym != "AIO_CANCELED" && second_pipe == &b_pipe && !b_pipe.feed(n))
      ctx.broken("cannot feed");
    if (c.sym != "AIO_CANCELED" && second_pipe == &a_pipe) {
      if (!a_pipe.feed(2 * n)) ctx.broken("cannot feed");
      ctx.observe(reaper.get(1));
      ctx.observe(reaper.get(2));
      return;
    }
    ctx.observe(reaper.get(2));
  }
  if (!a_pipe.feed(n)) ctx.broken("cannot feed");
  Outcome ca = reaper.get(1);
  ctx.observe(ca);
  if (!ca.is_error)
    ctx.check(verify_buffer(abuf.data(), ca.value, kWriteSeed, 0).empty(),
              "first request's pipe bytes wrong");
}

using posix::closed_fd;

AIOH_SCENARIO(posix_cancel_simple, aioh::posix::aio_threads_param(),
              aioh::param::required_choice("what",
                                           {"alldone", "bad-fd", "bad-fd-with-aiocb", "fd-mismatch",
                                            "fd-mismatch-closed", "all-fd-idle", "unsubmitted"},
                                           "the aio_cancel call")) {
  auto& be = posix::setup(ctx);
  const std::string what = ctx.str("what");
  int fd = posix::data_file(ctx, "f", 8192);
  std::vector<uint8_t> buf(4096);
  posix::Reaper reaper(be);
  if (what == "alldone") {
    Request r = posix::req(Op::read, fd, buf.data(), buf.size(), 0, 1);
    if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
    ctx.observe(reaper.get(1));
    ctx.observe(be.cancel(r));
  } else if (what == "bad-fd") {
    ctx.observe(be.cancel_raw(closed_fd(), nullptr));
  } else if (what == "bad-fd-with-aiocb") {
    aiocb blank;
    std::memset(&blank, 0, sizeof blank);
    blank.aio_fildes = closed_fd();
    ctx.observe(be.cancel_raw(blank.aio_fildes, &blank));
  } else if (what == "fd-mismatch") {
    posix::Pipe p(ctx);
    Request r = posix::req(Op::read, p.r, buf.data(), 16, 0, 1);
    if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
    ctx.observe(be.cancel_raw(fd, be.control_block(1)));
    if (!p.feed(16)) ctx.broken("cannot feed");
    ctx.observe(reaper.get(1));
  } else if (what == "fd-mismatch-closed") {
    // The fd is checked before the aiocb is looked at, even a pending one.
    posix::Pipe p(ctx);
    Request r = posix::req(Op::read, p.r, buf.data(), 16, 0, 1);
    if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
    ctx.observe(be.cancel_raw(closed_fd(), be.control_block(1)));
    if (!p.feed(16)) ctx.broken("cannot feed");
    ctx.observe(reaper.get(1));
  } else if (what == "all-fd-idle") {
    ctx.observe(be.cancel_raw(fd, nullptr));
  } else if (what == "unsubmitted") {
    Request r = posix::req(Op::read, fd, buf.data(), buf.size(), 0, 1);
    ctx.observe(be.cancel(r));  // never submitted: a blank aiocb on fd
  } else {
    ctx.broken("unknown what " + what);
  }
}

}  // namespace
}  // namespace aioh
