// Shared cancellation scenarios: cancelling a request that already completed,
// one still pending on an empty pipe, and one never submitted. Each interface
// answers its own documented way (io_cancel EINVAL/EINPROGRESS, async cancel
// 0/ENOENT/EALREADY with the target's ECANCELED, aio_cancel AIO_ALLDONE/
// AIO_NOTCANCELED/AIO_CANCELED); the table records which.
#include "common.h"

namespace {

// The backend set up, with a 4 KiB read of the case's scratch file ready.
struct ScratchRead {
  aioh::AlignedBuffer buf{4096};
  aioh::Request r;
  ScratchRead(aioh::CaseContext& ctx, uint64_t tag) {
    aioh::scn::setup_or_broken(ctx);
    r = aioh::scn::read_req(ctx.scratch_file("data", 4096, O_RDWR), buf.data(), 4096, 0, tag);
  }
};

}  // namespace

AIOH_SCENARIO(cancel_completed, aioh::param::none) {
  using namespace aioh;
  ScratchRead s(ctx, 1);
  if (scn::submit_observed(ctx, {&s.r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (got.count(1)) scn::verify_read(ctx, got[1], s.buf.data(), 0);
  ctx.observe(ctx.backend().cancel(s.r));
}

AIOH_SCENARIO(cancel_never_submitted, aioh::param::none) {
  ScratchRead s(ctx, 77);
  ctx.observe(ctx.backend().cancel(s.r));
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
