// Request ordering in io_uring: IOSQE_IO_LINK chains (a failed or short
// member cancels the rest with -ECANCELED), IOSQE_IO_HARDLINK (it does not),
// an SQE that fails at submission inside a chain, IOSQE_IO_DRAIN (a drained
// request waits for everything submitted before it), and
// IORING_SETUP_SUBMIT_ALL (whether io_uring_enter stops at the first SQE that
// fails at submission), and IOSQE_CQE_SKIP_SUCCESS. CQEs are observed in
// user_data order unless arrival order is the point.
#include <poll.h>

#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

AIOH_SCENARIO(uring_link_chain,
              aioh::param::choice("head", "nop", {"nop", "bad-fd", "short-read", "bad-opcode-middle"},
                                  "the chain's head (or a bad opcode second)"),
              aioh::param::boolean("hard", false, "IOSQE_IO_HARDLINK instead of IOSQE_IO_LINK"),
              aioh::param::integer("n", 3, "chain length: the head plus NOP followers (the ring has 16 entries)", 1, 16)) {
  IoUringBackend& be = up(ctx, 16);
  const std::string head = ctx.str("head");
  const bool hard = ctx.flag("hard");
  const unsigned n = static_cast<unsigned>(ctx.num("n"));
  const unsigned link = hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
  constexpr size_t kFile = 8192, kReq = 8192, kOff = 4096;
  int fd = ctx.scratch_file("link", kFile, O_RDONLY | O_CLOEXEC);
  AlignedBuffer buf(kReq);
  for (unsigned i = 0; i < n; ++i) {
    io_uring_sqe* s = sqe(ctx, be);
    if (i == 0 && head == "bad-fd") {
      io_uring_prep_read(s, closed_fd(), buf.data(), 512, 0);
    } else if (i == 0 && head == "short-read") {
      io_uring_prep_read(s, fd, buf.data(), kReq, kOff);  // 4096 before EOF
    } else {
      io_uring_prep_nop(s);
      if (i == 1 && head == "bad-opcode-middle") s->opcode = 0xfe;
    }
    if (i + 1 < n) s->flags |= link;
    io_uring_sqe_set_data64(s, i + 1);
  }
  ctx.observe(be.submit_queued());
  auto c = reap(ctx, be, n);
  observe_cqes(ctx, c);
  if (head == "short-read") {
    const RawCqe* r = find_tag(c, 1);
    if (r && r->res > 0)
      ctx.check(verify_buffer(buf.data(), r->res, kFileSeed, kOff).empty(),
                verify_buffer(buf.data(), r->res, kFileSeed, kOff));
  }
  close(fd);
}

// A POLL_ADD that is not ready, then a NOP; with drain the NOP carries
// IOSQE_IO_DRAIN and must not complete before the poll does. Arrival order
// is observed.
AIOH_SCENARIO(uring_drain, aioh::param::boolean("drain", false, "IOSQE_IO_DRAIN on the last request")) {
  IoUringBackend& be = up(ctx, 8);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_poll_add(s, p.r(), POLLIN);
  io_uring_sqe_set_data64(s, 1);
  s = sqe(ctx, be);
  io_uring_prep_nop(s);
  if (ctx.flag("drain")) s->flags |= IOSQE_IO_DRAIN;
  io_uring_sqe_set_data64(s, 2);
  ctx.observe(be.submit_queued());
  std::vector<RawCqe> early;
  ctx.observe(be.reap(1, ms(50), early));
  observe_cqes(ctx, early, false);
  if (write(p.w(), "x", 1) != 1) ctx.broken("pipe write");
  observe_cqes(ctx, reap(ctx, be, 2 - static_cast<unsigned>(early.size())),
               false);
}

// NOP, an SQE with an unknown opcode, NOP; with submit_all the ring has
// IORING_SETUP_SUBMIT_ALL. Without it the kernel stops after the failed SQE
// and the last NOP stays queued until the next submit.
AIOH_SCENARIO(uring_submit_all,
              aioh::param::boolean("submit_all", false, "the ring has IORING_SETUP_SUBMIT_ALL")) {
  IoUringBackend& be =
      up(ctx, 8, ctx.flag("submit_all") ? IORING_SETUP_SUBMIT_ALL : 0);
  for (unsigned i = 0; i < 3; ++i) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    if (i == 1) s->opcode = 0xfe;
    io_uring_sqe_set_data64(s, i + 1);
  }
  Outcome first = be.submit_queued();
  ctx.observe(first);
  if (first.is_error) return;
  observe_cqes(ctx, reap(ctx, be, static_cast<unsigned>(first.value)));
  if (first.value < 3) {
    Outcome second = be.submit_queued();
    ctx.observe(second);
    if (!second.is_error)
      observe_cqes(ctx, reap(ctx, be, static_cast<unsigned>(second.value)));
  }
}


// IOSQE_CQE_SKIP_SUCCESS: a request that succeeds posts no CQE, one that
// fails still does. Three requests: a NOP with the flag, a read on a closed
// fd with the flag, a plain NOP; every CQE that arrives is observed (so the
// expectation is the read's error, then the plain NOP's 0).
AIOH_SCENARIO(uring_cqe_skip, aioh::param::none) {
  IoUringBackend& be = up(ctx, 8);
  char buf[64];
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(s, 1);
  s = sqe(ctx, be);
  io_uring_prep_read(s, closed_fd(), buf, sizeof buf, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(s, 2);
  s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 3);
  ctx.observe(be.submit_queued());
  auto got = reap(ctx, be, 2);
  // Nothing else may arrive: the skipped NOP's CQE must not show up late.
  std::vector<RawCqe> late;
  be.reap(1, ms(20), late);
  got.insert(got.end(), late.begin(), late.end());
  ctx.check(!find_tag(got, 1), "the NOP with IOSQE_CQE_SKIP_SUCCESS posted a CQE");
  observe_cqes(ctx, got);
}

// IOSQE_IO_DRAIN after IOSQE_CQE_SKIP_SUCCESS: a ring that has seen a
// CQE-skipping request refuses drain from then on (io_uring/io_uring.c
// io_init_req(): drain_disabled -> -EOPNOTSUPP), since a drain cannot count
// completions that post no CQE. order: together (a skipping NOP and a
// draining NOP in one submit) | later (the draining NOP in a later submit,
// after the skipping one completed) | drain-first (drain, then skip: the
// drain is accepted). Every CQE that arrives is observed in arrival order;
// none more may come.
AIOH_URING_CHOICE_SCENARIO(uring_drain_skip, 8, order, "together", "where the IOSQE_IO_DRAIN request comes",
                           "together", "later", "drain-first") {
  auto queue = [&](uint64_t tag, unsigned flags) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    s->flags |= flags;
    io_uring_sqe_set_data64(s, tag);
  };
  std::vector<RawCqe> got;
  auto collect = [&] {
    std::vector<RawCqe> more;
    be.reap(8, ms(50), more);  // everything that comes within 50 ms
    got.insert(got.end(), more.begin(), more.end());
  };
  if (order == "drain-first") {
    queue(1, IOSQE_IO_DRAIN);
    queue(2, IOSQE_CQE_SKIP_SUCCESS);
    ctx.observe(be.submit_queued());
  } else {
    queue(1, IOSQE_CQE_SKIP_SUCCESS);
    if (order == "later") {
      ctx.observe(be.submit_queued());
      collect();
    }
    queue(2, IOSQE_IO_DRAIN);
    ctx.observe(be.submit_queued());
  }
  collect();
  // An SQE the kernel stopped at stays queued: hand it over too.
  if (io_uring_sq_ready(&be.ring())) {
    ctx.observe(be.submit_queued());
    collect();
  }
  observe_cqes(ctx, got, false);
}

}  // namespace
}  // namespace aioh
