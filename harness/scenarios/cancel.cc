// Shared cancellation scenarios: cancelling a request that already completed,
// one still pending on an empty pipe, and one never submitted. Each interface
// answers its own documented way (io_cancel EINVAL/EINPROGRESS, async cancel
// 0/ENOENT/EALREADY with the target's ECANCELED, aio_cancel AIO_ALLDONE/
// AIO_NOTCANCELED/AIO_CANCELED); the table records which.
#include "common.h"

AIOH_SCENARIO(cancel_completed, aioh::param::none) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDWR);
  AlignedBuffer buf(4096);
  Request r = scn::read_req(fd, buf.data(), 4096, 0, 1);
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (got.count(1)) scn::verify_read(ctx, got[1], buf.data(), 0);
  ctx.observe(ctx.backend().cancel(r));
}

AIOH_SCENARIO(cancel_never_submitted, aioh::param::none) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDWR);
  AlignedBuffer buf(4096);
  Request r = scn::read_req(fd, buf.data(), 4096, 0, 77);
  ctx.observe(ctx.backend().cancel(r));
}

// Cancel a pending request, then release the pipe and observe how the target
// ends: cancelled, or completed normally because it could not be cancelled.
AIOH_SCENARIO(cancel_pending, aioh::param::none) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  scn::Pipe p;
  char byte = 0;
  Request r = scn::pending_request(ctx, p, &byte, 1);
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  ctx.observe(ctx.backend().cancel(r));
  p.feed(1);
  auto got = scn::reap_observed(ctx, 1);
  if (got.count(1) && !got[1].result.is_error && r.op == Op::read)
    ctx.check(byte == 'x', "the pipe read completed without the byte written");
}
