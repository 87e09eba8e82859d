// IOCB_CMD_POLL and how kernel AIO completes other requests in time: a poll
// pends until its fd is ready and completes with the ready mask; a read on an
// empty pipe does not pend at all but blocks inside io_submit (fs/aio.c
// aio_read() calls ->read_iter synchronously; pipes are not async), which a
// timer signal ends with EINTR in io_event.res; a buffered read of cached
// data is complete before io_submit returns (its event is in the ring).
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "kaio_util.h"
#include "pattern.h"

namespace aioh {
namespace {

using kaio::aio;

// A poll on an empty pipe: nothing at first, then POLLIN once a byte lands.
AIOH_SCENARIO(kaio_poll_wakeup, aioh::param::none) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  Request r;
  r.op = Op::poll;
  r.fd = p[0];
  r.poll_events = POLLIN;
  r.tag = 3;
  ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  ctx.observe(be.wait(0, 1, timespec{0, 0}, out));
  if (write(p[1], "x", 1) != 1) ctx.broken("pipe write failed");
  Outcome w = be.wait(1, 1, timespec{5, 0}, out);
  if (w.is_error || out.size() != 1) ctx.observe(w);
  else ctx.observe(out[0].result);
  close(p[0]);
  close(p[1]);
}

// A read on an empty pipe blocks inside io_submit until a signal ends it.
AIOH_SCENARIO(kaio_pipe_read_blocks,
              aioh::param::integer("interrupt_ms", 100, "when SIGALRM ends the blocked io_submit", 1,
                                   aioh::param::kMaxMs)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  char buf[64];
  Request r;
  r.op = Op::read;
  r.fd = p[0];
  r.buf = buf;
  r.len = sizeof buf;
  r.tag = 5;
  const long ms = ctx.num("interrupt_ms");
  // The clock starts before the timer is armed: a case preempted between the
  // two (a loaded machine, many cases at once) would otherwise see the
  // signal "early" and io_submit return before `ms` though it blocked.
  const timespec t0 = kaio::now_mono();
  kaio::SignalTimer timer(ms);
  if (!timer.ok()) ctx.broken("cannot arm the signal timer");
  ctx.observe(be.submit({&r}));
  const long took = kaio::elapsed_ms(t0, kaio::now_mono());
  ctx.check(took + 5 >= ms, "io_submit returned after " + std::to_string(took) +
                                " ms: it did not block");
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, timespec{5, 0}, out);
  if (w.is_error || out.size() != 1) ctx.observe(w);
  else ctx.observe(out[0].result);
  close(p[0]);
  close(p[1]);
}

// A buffered read of cached data: its event is in the ring when io_submit
// returns (the ring header is user-visible memory at the context address).
AIOH_SCENARIO(kaio_sync_completion, aioh::param::none) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  if (pread(fd, buf.data(), 4096, 0) != 4096) ctx.broken("cannot warm the page cache");
  std::memset(buf.data(), 0, 4096);
  Request r;
  r.op = Op::read;
  r.fd = fd;
  r.buf = buf.data();
  r.len = 4096;
  r.tag = 9;
  ctx.observe(be.submit({&r}));
  auto* ring = reinterpret_cast<volatile AioRingHeader*>(be.context());
  const unsigned queued = ring->tail - ring->head;
  ctx.check(queued == 1, "ring holds " + std::to_string(queued) +
                             " events right after io_submit, expected 1");
  std::vector<Completion> out;
  ctx.observe(be.wait(0, 1, timespec{0, 0}, out));
  if (out.size() == 1) {
    ctx.observe(out[0].result);
    std::string bad = verify_buffer(buf.data(), 4096, kFileSeed, 0);
    ctx.check(bad.empty(), bad);
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
