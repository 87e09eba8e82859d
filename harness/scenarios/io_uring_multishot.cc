// Multishot requests: one SQE, many CQEs, each but the last flagged
// IORING_CQE_F_MORE. IORING_POLL_ADD_MULTI (5.13) posts one CQE per wakeup
// until cancelled (the last CQE, -ECANCELED, without MORE);
// IORING_OP_READ_MULTISHOT (6.7) reads into a buffer ring on every wakeup of
// a pollable file and ends at EOF (res 0) or when the ring runs dry
// (-ENOBUFS), and refuses files that cannot be polled (-EBADFD) and SQEs
// without IOSQE_BUFFER_SELECT (-EINVAL). Every CQE is observed as res,
// MORE (1/0) and, for reads, the buffer id; data is checked in that buffer.
#include <poll.h>

#include "convention.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49
#endif

namespace aioh {
namespace {

using namespace uring;

void observe_more(CaseContext& ctx, const RawCqe& c) {
  ctx.observe(IoUringBackend::res_outcome(c.res));
  ctx.observe(Outcome::ok((c.flags & IORING_CQE_F_MORE) ? 1 : 0, Channel::cqe_res, Phase::completion));
}

// Writes n bytes of the offset pattern (from `at`) into the pipe.
void feed(CaseContext& ctx, const Pipe& p, size_t n, uint64_t at) {
  std::vector<uint8_t> b(n);
  fill_pattern(b.data(), n, kWriteSeed, at);
  if (write(p.w(), b.data(), n) != static_cast<ssize_t>(n)) ctx.broken("pipe write");
}

// One CQE of tag `tag`, or liburing's answer when none comes in 50 ms
// (observed with its timing, and nullopt returned).
std::optional<RawCqe> next_cqe(CaseContext& ctx, IoUringBackend& be) {
  std::vector<RawCqe> got;
  timing::Stopwatch sw;
  Outcome w = be.reap(1, ms(50), got);
  if (got.empty()) {
    timing::observe_wait(ctx, w, sw.ms(), 50, false);
    return std::nullopt;
  }
  return got[0];
}

// A poll of a pipe's read end. multi: IORING_POLL_ADD_MULTI. Two writes,
// each drained again after its CQE; then (multishot) an ASYNC_CANCEL, whose
// answer and the poll's last CQE end it.
AIOH_SCENARIO(uring_poll_multi, aioh::param::boolean("multi", true, "IORING_POLL_ADD_MULTI")) {
  IoUringBackend& be = up(ctx, 8);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  const bool multi = ctx.flag("multi");
  io_uring_sqe* s = sqe(ctx, be);
  if (multi) io_uring_prep_poll_multishot(s, p.r(), POLLIN);
  else io_uring_prep_poll_add(s, p.r(), POLLIN);
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  char sink[16];
  for (int i = 0; i < 2; ++i) {
    feed(ctx, p, 1, 0);
    std::optional<RawCqe> c = next_cqe(ctx, be);
    if (c) observe_more(ctx, *c);
    if (read(p.r(), sink, sizeof sink) != 1) ctx.broken("pipe drain");
    if (!c) break;
  }
  if (!multi) return;
  s = sqe(ctx, be);
  io_uring_prep_cancel64(s, 1, 0);
  io_uring_sqe_set_data64(s, 2);
  submit_n(ctx, be, 1);
  std::vector<RawCqe> end = reap(ctx, be, 2);
  sort_by_tag(end);
  observe_more(ctx, end[0]);
  ctx.observe(IoUringBackend::res_outcome(end[1].res));
}

// IORING_OP_READ_MULTISHOT from group 3 (a buffer ring of 8 x 64 bytes,
// ids 0.., or one buffer with ring = "one"). target: pipe (writes of 16 and
// 8 bytes, then the write end closed: two reads with MORE, then EOF without)
// | file (a regular file) | no-select (a pipe, without IOSQE_BUFFER_SELECT).
AIOH_SCENARIO(uring_read_multishot,
              aioh::param::choice("target", "pipe", {"pipe", "file", "no-select"}, "what is read"),
              aioh::param::choice("ring", "eight", {"eight", "one"}, "buffers in the ring")) {
  constexpr unsigned kLen = 64;
  IoUringBackend& be = up(ctx, 8);
  const std::string target = ctx.str("target");
  const unsigned nbufs = ctx.str("ring") == "one" ? 1 : 8;
  BufRing br;
  if (br.reg(be.ring(), 8, 3) != 0) ctx.broken("io_uring_register_buf_ring");
  br.add(nbufs, 0, kLen);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  int fd = target == "file" ? ctx.scratch_file("mshot", 4096, O_RDONLY | O_CLOEXEC) : p.r();
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_rw(IORING_OP_READ_MULTISHOT, s, fd, nullptr, 0, 0);
  if (target != "no-select") s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = 3;
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  if (target != "pipe") {
    observe_more(ctx, reap(ctx, be, 1)[0]);
    if (target == "file") close(fd);
    return;
  }
  uint64_t at = 0;
  bool more = true;
  for (size_t n : {size_t{16}, size_t{8}}) {
    feed(ctx, p, n, at);
    std::optional<RawCqe> c = next_cqe(ctx, be);
    if (!c) return;
    observe_more(ctx, *c);
    more = c->flags & IORING_CQE_F_MORE;
    if (c->res > 0) {
      const unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
      ctx.observe(Outcome::ok(bid, Channel::cqe_res, Phase::completion));
      if (bid < nbufs)
        ctx.check(verify_buffer(br.pool.data() + bid * kLen, static_cast<size_t>(c->res), kWriteSeed, at).empty(),
                  "data in buffer " + std::to_string(bid));
      at += static_cast<uint64_t>(c->res);
    }
    if (!more) return;
  }
  close(p.fd[1]);
  p.fd[1] = -1;
  std::optional<RawCqe> eof = next_cqe(ctx, be);
  if (eof) observe_more(ctx, *eof);
}

}  // namespace
}  // namespace aioh
