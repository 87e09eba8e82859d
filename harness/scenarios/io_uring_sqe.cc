// SQE field validation and opcode introspection. One SQE built field by
// field (opcode, sqe->flags bits, ioprio, buf_index, the per-opcode flags
// word, personality) shows where io_uring/io_uring.c io_init_req() and each
// opcode's prep function refuse what they do not know: an error CQE, never a
// refused io_uring_enter. IORING_REGISTER_PROBE is checked against the
// kernel's own behaviour: the opcode after last_op is refused, the probe
// buffer must be zeroed and at most 256 entries long. What three
// IORING_FEAT_* bits promise, checked on the ring.
#include <poll.h>

#include <cstring>

#include "convention.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// How long a CQE that should not come is waited for.
constexpr long kNoCqeMs = 100;

// Observes the CQE of tag 1, or liburing's answer (with its timing) when none
// arrives within kNoCqeMs.
RawCqe observe_one(CaseContext& ctx, IoUringBackend& be) {
  std::vector<RawCqe> got;
  timing::Stopwatch sw;
  Outcome w = be.reap(1, ms(kNoCqeMs), got);
  const double took = sw.ms();
  if (got.empty()) {
    timing::observe_wait(ctx, w, took, kNoCqeMs, false);
    return RawCqe{0, 1, 0};
  }
  ctx.observe(IoUringBackend::res_outcome(got[0].res));
  return got[0];
}

// One SQE: op (nop | read | fsync | poll | openat | timeout: 10 s, no
// count, so accepted it is still pending when observed), raw sqe->flags bits,
// ioprio, buf_index, op_flags (the union word: nop_flags, fsync_flags,
// poll32_events, open_flags), len (NOP: the injected result), personality,
// addr and splice_fd_in (fields some opcodes must have zero).
AIOH_SCENARIO(uring_sqe_fields,
              aioh::param::choice("op", "nop", {"nop", "read", "fsync", "poll", "openat", "timeout"}, "the opcode"),
              aioh::param::integer("sqe_flags", 0, "raw IOSQE_* bits", 0, 255),
              aioh::param::integer("ioprio", 0, "sqe->ioprio", 0, 65535),
              aioh::param::integer("buf_index", 0, "sqe->buf_index", 0, 65535),
              aioh::param::integer("op_flags", 0, "the per-opcode flags word (sqe->rw_flags union)", 0, UINT32_MAX),
              aioh::param::integer("len", -1, "sqe->len (-1: the opcode's own)", -1, 65535),
              aioh::param::integer("personality", 0, "sqe->personality", 0, 65535),
              aioh::param::integer("addr", -1, "sqe->addr for opcodes that do not take it (-1: the opcode's own)", -1,
                                   INT32_MAX),
              aioh::param::integer("splice_fd_in", 0, "sqe->splice_fd_in (file_index)", 0, INT32_MAX)) {
  IoUringBackend& be = up(ctx, 8);
  const std::string op = ctx.str("op");
  int fd = ctx.scratch_file("sqe", 4096, O_RDWR | O_CLOEXEC);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  AlignedBuffer buf(4096);
  const std::string path = ctx.scratch_dir() + "/sqe";
  __kernel_timespec ten_s = kms(10000);  // a TIMEOUT that stays pending while observed
  io_uring_sqe* s = sqe(ctx, be);
  if (op == "nop") io_uring_prep_nop(s);
  else if (op == "read") io_uring_prep_read(s, fd, buf.data(), 64, 0);
  else if (op == "fsync") io_uring_prep_fsync(s, fd, 0);
  else if (op == "poll") io_uring_prep_poll_add(s, p.w(), POLLOUT);
  else if (op == "timeout") io_uring_prep_timeout(s, &ten_s, 0, 0);
  else io_uring_prep_openat(s, AT_FDCWD, path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  s->flags = static_cast<__u8>(ctx.num("sqe_flags"));
  s->ioprio = static_cast<__u16>(ctx.num("ioprio"));
  s->buf_index = static_cast<__u16>(ctx.num("buf_index"));
  if (ctx.num("op_flags")) s->rw_flags = static_cast<__kernel_rwf_t>(ctx.num("op_flags"));
  if (ctx.num("len") >= 0) s->len = static_cast<__u32>(ctx.num("len"));
  s->personality = static_cast<__u16>(ctx.num("personality"));
  if (ctx.num("addr") >= 0) s->addr = static_cast<__u64>(ctx.num("addr"));
  s->splice_fd_in = static_cast<__s32>(ctx.num("splice_fd_in"));
  io_uring_sqe_set_data64(s, 1);
  ctx.observe(be.submit_queued());
  RawCqe c = observe_one(ctx, be);
  if (op == "read" && c.res > 0)
    ctx.check(verify_buffer(buf.data(), static_cast<size_t>(c.res), kFileSeed, 0).empty(), "read data mismatch");
  if (op == "openat" && c.res >= 0 && c.res != 1) close(c.res);
  close(fd);
}

// IORING_REGISTER_PROBE. mode: last-op-plus-one (the opcode after the
// probe's last_op completes with -EINVAL, a NOP beside it with 0; also
// observes whether last_op + 1 == ops_len) | dirty-buffer (a probe buffer
// that is not zeroed) | too-many (nr_args 257) | null-arg.
AIOH_URING_CHOICE_SCENARIO(uring_probe_ops, 16, mode, "last-op-plus-one", "what is asked of IORING_REGISTER_PROBE",
                           "last-op-plus-one", "dirty-buffer", "too-many", "null-arg") {
  const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
  const unsigned nr = mode == "too-many" ? 257 : 256;
  std::vector<uint8_t> mem(sizeof(io_uring_probe) + nr * sizeof(io_uring_probe_op), 0);
  auto* probe = reinterpret_cast<io_uring_probe*>(mem.data());
  if (mode == "dirty-buffer") probe->resv = 1;
  arm_errno();
  int ret = io_uring_register(fd, IORING_REGISTER_PROBE, mode == "null-arg" ? nullptr : probe, nr);
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup, "io_uring_register(PROBE)"));
  if (ret < 0 || mode != "last-op-plus-one") return;
  ctx.observe(Outcome::ok(probe->ops_len == probe->last_op + 1, Channel::ret, Phase::setup));
  // The NOP first: submission stops after an SQE that fails at init.
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 2);
  s = sqe(ctx, be);
  io_uring_prep_nop(s);
  s->opcode = static_cast<__u8>(probe->last_op + 1);
  io_uring_sqe_set_data64(s, 1);
  ctx.observe(be.submit_queued());
  observe_cqes(ctx, reap(ctx, be, 2));
}

// What a feature bit of io_uring_params.features promises, checked on the
// ring itself. feature: single-mmap (IORING_FEAT_SINGLE_MMAP, 5.4: the CQ
// ring is reachable through the SQ ring's mapping: both read the same
// cq_entries; observes the bit, then whether they agree) | submit-stable
// (IORING_FEAT_SUBMIT_STABLE, 5.5: the SQE's data, here a READV's iovec,
// may be changed once io_uring_submit returns: the read still lands in the
// buffer the iovec named then; observes the bit, the CQE, which buffer got
// the data: 1 the first) | native-workers (IORING_FEAT_NATIVE_WORKERS,
// 5.12: io-wq workers are threads of the submitting process, "iou-wrk-<pid>";
// observes the bit, then whether one appeared for an IOSQE_ASYNC NOP) |
// fast-poll (IORING_FEAT_FAST_POLL, 5.7: a read that cannot proceed is
// parked on the file's poll instead of an io-wq worker: a READ of an empty
// pipe is pending with no iou-wrk thread after 50 ms, then completes with
// the 8 bytes written; observes the bit, workers seen (1/0), the CQE).
AIOH_SCENARIO(uring_features,
              aioh::param::choice("feature", "single-mmap",
                                  {"single-mmap", "submit-stable", "native-workers", "fast-poll"},
                                  "the IORING_FEAT_* promise checked")) {
  IoUringBackend& be = up(ctx, 8);
  io_uring& ring = be.ring();
  const std::string f = ctx.str("feature");
  const unsigned feats = be.params().features;
  if (f == "single-mmap") {
    ctx.observe(Outcome::ok((feats & IORING_FEAT_SINGLE_MMAP) ? 1 : 0, Channel::ret, Phase::setup));
    const auto* via_sq = reinterpret_cast<const unsigned*>(static_cast<char*>(ring.sq.ring_ptr) +
                                                           be.params().cq_off.ring_entries);
    ctx.observe(Outcome::ok(*via_sq == *ring.cq.kring_entries, Channel::ret, Phase::setup));
    return;
  }
  if (f == "submit-stable") {
    ctx.observe(Outcome::ok((feats & IORING_FEAT_SUBMIT_STABLE) ? 1 : 0, Channel::ret, Phase::setup));
    Pipe p;
    if (!p.ok()) ctx.broken("pipe");
    char first[8] = {}, second[8] = {};
    iovec iov{first, sizeof first};
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_readv(x, p.r(), &iov, 1, 0); });
    // After the submit: the iovec now names the other buffer.
    iov.iov_base = second;
    if (write(p.w(), "stable!", 8) != 8) ctx.broken("pipe write");
    observe_cqes(ctx, reap(ctx, be, 1));
    ctx.observe(Outcome::ok(std::memcmp(first, "stable!", 8) == 0 ? 1 : std::memcmp(second, "stable!", 8) == 0 ? 2 : 0,
                            Channel::ret, Phase::completion));
    return;
  }
  if (f == "fast-poll") {
    ctx.observe(Outcome::ok((feats & IORING_FEAT_FAST_POLL) ? 1 : 0, Channel::ret, Phase::setup));
    Pipe p;
    if (!p.ok()) ctx.broken("pipe");
    char buf[8] = {};
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) { io_uring_prep_read(x, p.r(), buf, sizeof buf, 0); });
    usleep(50 * 1000);
    ctx.observe(Outcome::ok(count_threads_named("iou-wrk-") > 0 ? 1 : 0, Channel::ret, Phase::submit));
    if (write(p.w(), "fastpol", 8) != 8) ctx.broken("pipe write");
    observe_cqes(ctx, reap(ctx, be, 1));
    ctx.check(std::memcmp(buf, "fastpol", 8) == 0, "the read's buffer does not hold the bytes written");
    return;
  }
  ctx.observe(Outcome::ok((feats & IORING_FEAT_NATIVE_WORKERS) ? 1 : 0, Channel::ret, Phase::setup));
  submit_one(ctx, be, 1, [](io_uring_sqe* x) {
    io_uring_prep_nop(x);
    x->flags |= IOSQE_ASYNC;
  });
  observe_cqes(ctx, reap(ctx, be, 1));
  const int workers = count_threads_named("iou-wrk-");
  ctx.observe(Outcome::ok(workers > 0 ? 1 : 0, Channel::ret, Phase::completion));
}

}  // namespace
}  // namespace aioh
