// libaio's exported calls that no other family reaches, each where a subtly
// broken build would otherwise pass unnoticed (scripts/mutants): for now
// io_queue_wait(), exported (LIBAIO_0.4) but commented out of libaio.h.
// libaio src/io_queue_wait.c makes it io_getevents(ctx, 0, 0, NULL, timeout),
// and min_nr 0 is met by nothing at all (fs/aio.c aio_read_events(): *i >=
// min_nr), so it returns 0 at once whatever the timeout and takes no event
// out of the ring. libaio's convention holds: the negated errno.
#include <libaio.h>

#include <fcntl.h>
#include <unistd.h>

#include "convention.h"
#include "pattern.h"
#include "scenario.h"
#include "scenarios/wait_timing.h"

// Not declared by libaio.h (its prototype is commented out there).
extern "C" int io_queue_wait(io_context_t ctx, struct timespec* timeout);

namespace aioh {
namespace {

// pending: one buffered read submitted (fs/aio.c runs it inside io_submit,
// so its event is in the ring before the wait) | empty: nothing submitted.
// Observes io_queue_wait's answer with a 2 s timeout and how long it took
// (at once: its condition, zero events, always holds), then an
// io_getevents(min_nr 1, 1 s) that must still find the read's event.
AIOH_SCENARIO(libaio_queue_wait,
              aioh::param::choice("mode", "pending", {"pending", "empty"}, "a completed read in the ring, or none")) {
  if (ctx.backend().name() != "libaio") ctx.broken("a libaio-only scenario: needs the libaio backend");
  const bool pending = ctx.str("mode") == "pending";
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  if (fd < 0) ctx.broken("scratch file");
  io_context_t c = nullptr;
  if (int r = io_queue_init(8, &c); r != 0) ctx.broken("io_queue_init failed: " + std::to_string(r));
  AlignedBuffer buf(4096);
  struct iocb cb;
  struct iocb* cbp = &cb;
  io_prep_pread(&cb, fd, buf.data(), 4096, 0);
  if (pending) {
    arm_errno();
    ctx.observe(from_neg_errno(io_submit(c, 1, &cbp), errno, Phase::submit, ctx.backend().conventions(), "io_submit"));
  }
  timespec ts{2, 0};
  timing::Stopwatch sw;
  arm_errno();
  int r = io_queue_wait(c, &ts);
  timing::observe_wait(ctx, from_neg_errno(r, errno, Phase::wait, ctx.backend().conventions(), "io_queue_wait"),
                       sw.ms(), 2000, true);
  if (pending) {
    io_event ev{};
    timespec one{1, 0};
    arm_errno();
    int n = io_getevents(c, 1, 1, &ev, &one);
    ctx.observe(from_neg_errno(n, errno, Phase::wait, ctx.backend().conventions(), "io_getevents"));
    if (n == 1) {
      ctx.observe(from_res_field(static_cast<long>(ev.res), Channel::io_event_res));
      ctx.check(verify_buffer(buf.data(), 4096, kFileSeed, 0).empty(), "the read's bytes are wrong");
    }
  }
  io_queue_release(c);
  close(fd);
}

}  // namespace
}  // namespace aioh
