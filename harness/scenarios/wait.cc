// Shared waiting scenarios: how each interface says "timed out" (kernel AIO a
// short count, io_uring ETIME, glibc aio_suspend EAGAIN), waiting for exactly
// min_nr, and a timeout that expires with fewer than min_nr ready. A request
// kept pending on an empty pipe makes "nothing ready" deterministic; it is
// released and reaped at the end so no worker is left behind. Every wait is
// observed with its elapsed time and checked for promptness (wait_timing.h):
// a timeout of T is waited out (no earlier than T, within T plus the slack),
// a wait whose min_nr is met returns within the slack.
#include "common.h"
#include "wait_timing.h"
#include "timespec.h"

namespace aioh {
namespace {

timespec ms(int64_t v) { return ms_to_timespec(v); }

// Releases the pending pipe request and reaps everything still outstanding,
// checking nothing is lost.
void drain(CaseContext& ctx, scn::Pipe& p, unsigned outstanding) {
  p.feed(16);
  unsigned got = 0;
  for (int tries = 0; tries < 8 && got < outstanding; tries++) {
    std::vector<Completion> out;
    ctx.backend().wait(1, outstanding - got, timespec{1, 0}, out);
    got += static_cast<unsigned>(out.size());
  }
  ctx.check(got == outstanding, "after release, " + std::to_string(got) + " of " +
                                    std::to_string(outstanding) + " outstanding requests completed");
}

}  // namespace
}  // namespace aioh

// params: timeout_ms (0: a zero timeout). One pending request; wait(1, 1).
AIOH_SCENARIO(wait_timeout_pending,
              aioh::param::integer("timeout_ms", 10, "the wait's timeout (0: a zero timeout)", 0, aioh::param::kMaxMs)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  scn::Pipe p;
  char byte;
  Request r = scn::pending_request(ctx, p, &byte, 1);
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  std::vector<Completion> out;
  const int64_t t = ctx.num("timeout_ms");
  timing::Stopwatch sw;
  Outcome w = ctx.backend().wait(1, 1, ms(t), out);
  timing::observe_wait(ctx, w, sw.ms(), static_cast<double>(t), false);
  ctx.check(out.empty(), "a completion arrived for a request that cannot complete yet");
  drain(ctx, p, 1);
}

// One request completes, one stays pending; wait(2, 2, timeout) must come back
// after the timeout with only the first.
AIOH_SCENARIO(wait_fewer_than_min,
              aioh::param::integer("timeout_ms", 50, "the wait's timeout", 0, aioh::param::kMaxMs)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDWR);
  AlignedBuffer buf(4096);
  Request done = scn::read_req(fd, buf.data(), 4096, 0, 1);
  scn::Pipe p;
  char byte;
  Request pend = scn::pending_request(ctx, p, &byte, 2);
  if (scn::submit_observed(ctx, {&done, &pend}) < 2) return;
  std::vector<Completion> out;
  const int64_t t = ctx.num("timeout_ms");
  timing::Stopwatch sw;
  Outcome w = ctx.backend().wait(2, 2, ms(t), out);
  timing::observe_wait(ctx, w, sw.ms(), static_cast<double>(t), false);
  unsigned ready = 0;
  for (auto& c : out) {
    if (c.tag == 1) {
      ready++;
      ctx.check(!c.result.is_error && c.result.value == 4096, "the ready read completed with " + c.result.str());
      scn::verify_read(ctx, c, buf.data(), 0);
    } else {
      ctx.check(false, "the pending request completed before its pipe had data");
    }
  }
  // The ready one may be handed back with the timeout or by the next wait.
  if (ready == 0) {
    std::vector<Completion> more;
    ctx.backend().wait(1, 1, timespec{5, 0}, more);
    for (auto& c : more) ready += c.tag == 1;
  }
  ctx.check(ready == 1, "the completed read was not delivered exactly once");
  drain(ctx, p, 1);
}

// params: count. All complete; wait(count, count) returns exactly count,
// as soon as they are done (buffered reads: within the slack).
AIOH_SCENARIO(wait_exact_min,
              aioh::param::integer("count", 4, "reads submitted and waited for", 1, 64)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  unsigned n = static_cast<unsigned>(ctx.num("count"));
  int fd = ctx.scratch_file("data", n * 4096, O_RDWR);
  std::vector<std::unique_ptr<AlignedBuffer>> bufs;
  std::vector<Request> reqs(n);
  std::vector<Request*> ptrs;
  for (unsigned i = 0; i < n; i++) {
    bufs.push_back(std::make_unique<AlignedBuffer>(4096));
    reqs[i] = scn::read_req(fd, bufs[i]->data(), 4096, static_cast<int64_t>(i) * 4096, 10 + i);
    ptrs.push_back(&reqs[i]);
  }
  if (scn::submit_observed(ctx, ptrs) < n) return;
  std::vector<Completion> out;
  timing::Stopwatch sw;
  Outcome w = ctx.backend().wait(n, n, timespec{5, 0}, out);
  timing::observe_wait(ctx, w, sw.ms(), 5000, true);
  for (auto& c : out) scn::verify_read(ctx, c, bufs[c.tag - 10]->data(), reqs[c.tag - 10].offset);
}

// Nothing submitted at all: a wait with a timeout must come back after it,
// not hang and not return early.
AIOH_SCENARIO(wait_idle,
              aioh::param::integer("timeout_ms", 10, "the wait's timeout", 0, aioh::param::kMaxMs)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  std::vector<Completion> out;
  const int64_t t = ctx.num("timeout_ms");
  timing::Stopwatch sw;
  Outcome w = ctx.backend().wait(1, 1, ms(t), out);
  // glibc has nothing to wait on (aio_suspend of an empty list returns at
  // once: posix-suspend.all-null), so the posix-aio backend answers at once.
  timing::observe_wait(ctx, w, sw.ms(), static_cast<double>(t), ctx.backend().name() == "posix-aio");
}
