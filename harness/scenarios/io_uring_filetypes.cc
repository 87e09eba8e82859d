// Files that are not regular files, through io_uring: a directory
// (-EISDIR), an epoll fd (no read or write: -EINVAL, but tried without
// blocking first the request waits for the fd's readiness like any pollable
// file), a stream socket read at an offset (-ESPIPE, net/socket.c) and a
// pipe read at one (ignored: the data is there), a FIFO
// read that waits for its writer, a write to a pipe with no reader (-EPIPE,
// and SIGPIPE to the task that ran it: the submitter when the write runs
// inline, an io-wq worker, which never delivers it, with IOSQE_ASYNC),
// SEND on a pipe and RECV on a regular file (-ENOTSOCK), FSYNC on a pipe
// (-EINVAL), an O_PATH fd (-EBADF), /dev/zero and an eventfd. Data read is
// checked.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "convention.h"
#include "pattern.h"
#include "rwf_compat.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

std::atomic<int> g_sigpipes{0};
void on_sigpipe(int) { g_sigpipes.fetch_add(1); }

// An fd closed on every path.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// target: dir-read | epoll-read | epoll-write | socket-offset | pipe-offset
// | fifo-read | pipe-no-reader | send-on-pipe | recv-on-file | fsync-pipe
// | opath-read | devzero-read | eventfd-read. async: IOSQE_ASYNC on the
// request; nosignal: RWF_NOSIGNAL on the pipe-no-reader write. Observes the submit, the CQE; for pipe-no-reader also how many
// SIGPIPEs the process got (a handler counts them).
AIOH_SCENARIO(uring_filetype,
              aioh::param::choice("target", "dir-read",
                                  {"dir-read", "epoll-read", "epoll-write", "socket-offset", "pipe-offset",
                                   "fifo-read", "pipe-no-reader", "send-on-pipe", "recv-on-file", "fsync-pipe",
                                   "opath-read", "devzero-read", "eventfd-read"},
                                  "the file and the request"),
              aioh::param::boolean("async", false, "IOSQE_ASYNC: run the request in io-wq"),
              aioh::param::boolean("nosignal", false, "RWF_NOSIGNAL on the pipe-no-reader write")) {
  IoUringBackend& be = up(ctx, 8);
  const std::string t = ctx.str("target");
  std::vector<uint8_t> data(16);
  fill_pattern(data.data(), data.size(), kWriteSeed, 0);
  AlignedBuffer buf(4096);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  Fd own;
  io_uring_sqe* s = sqe(ctx, be);
  size_t expect_data = 0;  // bytes of `data` a successful read must return
  struct sigaction old_pipe {};
  bool pipe_handler = false;
  if (t == "dir-read") {
    own.fd = open(ctx.scratch_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    io_uring_prep_read(s, own.fd, buf.data(), 64, 0);
  } else if (t == "epoll-read" || t == "epoll-write") {
    own.fd = epoll_create1(EPOLL_CLOEXEC);
    if (t == "epoll-read") io_uring_prep_read(s, own.fd, buf.data(), 64, 0);
    else io_uring_prep_write(s, own.fd, data.data(), 16, 0);
  } else if (t == "socket-offset") {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) ctx.broken("socketpair");
    own.fd = sv[0];
    if (write(sv[1], data.data(), 16) != 16) ctx.broken("socket write");
    close(sv[1]);
    io_uring_prep_read(s, own.fd, buf.data(), 64, 4096);
    expect_data = 16;
  } else if (t == "pipe-offset") {
    if (write(p.w(), data.data(), 16) != 16) ctx.broken("pipe write");
    io_uring_prep_read(s, p.r(), buf.data(), 64, 4096);
    expect_data = 16;
  } else if (t == "fifo-read") {
    const std::string fifo = ctx.scratch_dir() + "/fifo";
    if (mkfifo(fifo.c_str(), 0600) != 0) ctx.broken("mkfifo");
    own.fd = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // O_RDWR: open does not wait for a writer
    io_uring_prep_read(s, own.fd, buf.data(), 64, 0);
    expect_data = 16;
  } else if (t == "pipe-no-reader") {
    struct sigaction sa {};
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old_pipe);
    pipe_handler = true;
    g_sigpipes = 0;
    close(p.fd[0]);
    p.fd[0] = -1;
    io_uring_prep_write(s, p.w(), data.data(), 16, 0);
    if (ctx.flag("nosignal")) s->rw_flags = RWF_NOSIGNAL;
  } else if (t == "send-on-pipe") {
    io_uring_prep_send(s, p.w(), data.data(), 16, 0);
  } else if (t == "recv-on-file") {
    own.fd = ctx.scratch_file("recv", 4096, O_RDONLY | O_CLOEXEC);
    io_uring_prep_recv(s, own.fd, buf.data(), 64, 0);
  } else if (t == "fsync-pipe") {
    io_uring_prep_fsync(s, p.w(), 0);
  } else if (t == "opath-read") {
    own.fd = ctx.scratch_file("opath", 4096, O_PATH | O_CLOEXEC);
    io_uring_prep_read(s, own.fd, buf.data(), 64, 0);
  } else if (t == "devzero-read") {
    own.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    std::memset(buf.data(), 0xa5, 64);
    io_uring_prep_read(s, own.fd, buf.data(), 64, 0);
  } else {  // eventfd-read
    own.fd = eventfd(5, EFD_CLOEXEC);
    io_uring_prep_read(s, own.fd, buf.data(), 8, 0);
  }
  if (own.fd < 0 && t != "pipe-offset" && t != "pipe-no-reader" && t != "send-on-pipe" && t != "fsync-pipe")
    ctx.broken("cannot open the target for " + t);
  if (ctx.flag("async")) s->flags |= IOSQE_ASYNC;
  io_uring_sqe_set_data64(s, 1);
  ctx.observe(be.submit_queued());
  if (t == "fifo-read") {
    // Still waiting: nothing written yet.
    std::vector<RawCqe> early;
    ctx.observe(be.reap(1, ms(20), early));
    if (write(own.fd, data.data(), 16) != 16) ctx.broken("fifo write");
  }
  if ((t == "epoll-read" || t == "epoll-write") && !ctx.flag("async")) {
    // Tried without blocking first, the request waits on the epoll fd's
    // poll: it is pending until the fd reports readiness.
    std::vector<RawCqe> early;
    ctx.observe(be.reap(1, ms(20), early));
    if (!early.empty()) ctx.broken("the request on the epoll fd completed early");
    if (t == "epoll-read") {
      // An eventfd in the set, signalled: the epoll fd becomes readable,
      // the read is retried and refused.
      Fd ev(eventfd(1, EFD_CLOEXEC));
      epoll_event e{};
      e.events = EPOLLIN;
      if (ev.fd < 0 || epoll_ctl(own.fd, EPOLL_CTL_ADD, ev.fd, &e) != 0) ctx.broken("epoll_ctl");
      auto c = reap(ctx, be, 1);
      ctx.observe(IoUringBackend::res_outcome(c[0].res));
    } else {
      // An epoll fd is never writable: only a cancel ends the write.
      Request r;
      r.tag = 1;
      ctx.observe(be.cancel(r));
      auto c = reap(ctx, be, 1);
      ctx.observe(IoUringBackend::res_outcome(c[0].res));
    }
    return;
  }
  auto c = reap(ctx, be, 1);
  ctx.observe(IoUringBackend::res_outcome(c[0].res));
  if (expect_data && c[0].res > 0)
    ctx.check(c[0].res == static_cast<int32_t>(expect_data) && std::memcmp(buf.data(), data.data(), expect_data) == 0,
              "the stream's bytes did not arrive intact");
  if (t == "devzero-read" && c[0].res == 64)
    ctx.check(std::all_of(buf.data(), buf.data() + 64, [](uint8_t b) { return b == 0; }), "/dev/zero gave non-zero bytes");
  if (t == "eventfd-read" && c[0].res == 8) {
    uint64_t v = 0;
    std::memcpy(&v, buf.data(), 8);
    ctx.check(v == 5, "eventfd counter read as " + std::to_string(v));
  }
  if (pipe_handler) {
    ctx.observe(Outcome::ok(g_sigpipes.load(), Channel::ret, Phase::completion));
    sigaction(SIGPIPE, &old_pipe, nullptr);
  }
}

}  // namespace
}  // namespace aioh
