// liburing's own promises, each where a subtly broken build would hide from
// the other families (scripts/mutants): io_uring_submit_and_wait() returns
// only once wait_nr CQEs are there, io_uring_wait_cqe() blocks for one,
// io_uring_wait_cqe_timeout() waits out its relative timeout,
// io_uring_peek_batch_cqe() hands over at most `count` CQEs,
// io_uring_get_events() flushes deferred completions into the CQ ring,
// io_uring_queue_exit() closes the ring fd and unmaps the rings, and
// io_uring_get_probe() reports what the kernel's IORING_REGISTER_PROBE does.
// Each waits on a timeout SQE (the kernel's own clock), never on a sleep
// racing io-wq.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

// A timeout SQE of `ts` and no completion count: its CQE (-ETIME) is
// posted by the kernel's timer when it expires.
void queue_timer(CaseContext& ctx, IoUringBackend& be, __kernel_timespec& ts, uint64_t tag) {
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_timeout(s, &ts, 0, 0);
  io_uring_sqe_set_data64(s, tag);
}

Outcome cq_ready(io_uring& ring, Phase phase) {
  return Outcome::ok(io_uring_cq_ready(&ring), Channel::ret, phase);
}

// The one CQE that must be ready now, observed and consumed; none is broken.
void observe_ready_cqe(CaseContext& ctx, io_uring& ring) {
  io_uring_cqe* c = nullptr;
  if (io_uring_peek_cqe(&ring, &c) != 0 || !c) ctx.broken("no CQE ready after the wait said so");
  ctx.observe(IoUringBackend::res_outcome(c->res));
  io_uring_cqe_seen(&ring, c);
}

// Mappings of this process backed by an io_uring file (/proc/self/maps
// names them anon_inode:[io_uring]).
int uring_mappings() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) n += line.find("[io_uring]") != std::string::npos;
  return n;
}

// Opcodes on which io_uring_get_probe() and a raw IORING_REGISTER_PROBE of a
// ring made with the raw syscall disagree (last_op, or an op's SUPPORTED bit).
int probe_disagreements(CaseContext& ctx, const io_uring_probe& lib) {
  io_uring_params p{};
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &p));
  if (fd < 0) ctx.broken("raw io_uring_setup for the reference probe failed");
  constexpr unsigned kOps = 256;
  std::vector<char> buf(sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op));
  auto* raw = reinterpret_cast<io_uring_probe*>(buf.data());
  long r = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, raw, kOps);
  close(fd);
  if (r < 0) ctx.broken("raw IORING_REGISTER_PROBE failed");
  int differ = lib.last_op != raw->last_op;
  for (unsigned op = 0; op <= std::max(lib.last_op, raw->last_op) && op < kOps; ++op) {
    bool a = op <= lib.last_op && op < lib.ops_len && (lib.ops[op].flags & IO_URING_OP_SUPPORTED);
    bool b = op <= raw->last_op && op < raw->ops_len && (raw->ops[op].flags & IO_URING_OP_SUPPORTED);
    differ += a != b;
  }
  return differ;
}

// mode: submit-and-wait (a 30 ms timeout SQE: io_uring_submit_and_wait for 1,
//   its answer, then how many CQEs are ready, then the CQE) |
// wait-cqe (the same SQE submitted: io_uring_wait_cqe's answer and the CQE) |
// get-events (a DEFER_TASKRUN ring: a 1 ms timeout submitted, CQEs ready
//   30 ms later, io_uring_get_events' answer, CQEs ready after it, the CQE) |
// queue-exit (a ring of its own: after io_uring_queue_exit, fcntl(F_GETFD) on
//   its old fd and how many io_uring mappings are left) |
// wait-cqe-timeout (nothing pending: io_uring_wait_cqe_timeout of 100 ms, its
//   answer, which must come after 100 ms and within the stated slack) |
// peek-batch (three NOPs completed: io_uring_peek_batch_cqe for 2 into an
//   array of 8, then, those 2 seen, for 8: each answer) |
// get-probe (io_uring_get_probe() returned a probe, and on how many opcodes it
//   disagrees with the kernel's own IORING_REGISTER_PROBE)
AIOH_SCENARIO(uring_library,
              aioh::param::choice("mode", "submit-and-wait",
                                  {"submit-and-wait", "wait-cqe", "wait-cqe-timeout", "peek-batch", "get-events", "queue-exit",
                                   "get-probe"},
                                  "the liburing promise under test")) {
  const std::string mode = ctx.str("mode");
  if (mode == "queue-exit") {
    io_uring r{};
    arm_errno();
    int ret = io_uring_queue_init(4, &r, 0);
    if (ret != 0) ctx.broken("io_uring_queue_init failed: " + std::to_string(ret));
    const int fd = r.ring_fd;
    io_uring_queue_exit(&r);
    arm_errno();
    int f = fcntl(fd, F_GETFD);
    ctx.observe(from_minus1_errno(f, errno, Phase::teardown, ctx.backend().conventions(), "fcntl(F_GETFD)"));
    ctx.observe(Outcome::ok(uring_mappings(), Channel::ret, Phase::teardown));
    return;
  }
  if (mode == "get-probe") {
    io_uring_probe* lib = io_uring_get_probe();
    ctx.observe(Outcome::ok(lib != nullptr, Channel::ret, Phase::setup));
    if (!lib) return;
    ctx.observe(Outcome::ok(probe_disagreements(ctx, *lib), Channel::ret, Phase::setup));
    io_uring_free_probe(lib);
    return;
  }
  if (mode == "wait-cqe-timeout") {
    IoUringBackend& be = up(ctx, 8);
    io_uring_cqe* c = nullptr;
    __kernel_timespec ts = kms(100);
    timing::Stopwatch sw;
    arm_errno();
    int ret = io_uring_wait_cqe_timeout(&be.ring(), &c, &ts);
    timing::observe_wait(ctx, be.liburing_ret(ret, errno, Phase::wait, "io_uring_wait_cqe_timeout"), sw.ms(), 100,
                         false);
    return;
  }
  if (mode == "peek-batch") {
    IoUringBackend& be = up(ctx, 8);
    for (uint64_t tag = 1; tag <= 3; ++tag) {
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, tag);
    }
    submit_n(ctx, be, 3);
    if (ready_within(be, 1000) != 3) ctx.broken("three NOPs did not complete");
    io_uring_cqe* got[8] = {};
    unsigned n = io_uring_peek_batch_cqe(&be.ring(), got, 2);
    ctx.observe(Outcome::ok(n, Channel::ret, Phase::wait));
    io_uring_cq_advance(&be.ring(), std::min(n, 2u));
    ctx.observe(Outcome::ok(io_uring_peek_batch_cqe(&be.ring(), got, 8), Channel::ret, Phase::wait));
    return;
  }
  const bool deferred = mode == "get-events";
  IoUringBackend& be = up(ctx, 8, deferred ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0);
  io_uring& ring = be.ring();
  __kernel_timespec ts = kms(deferred ? 1 : 30);
  queue_timer(ctx, be, ts, 1);
  if (mode == "submit-and-wait") {
    arm_errno();
    int ret = io_uring_submit_and_wait(&ring, 1);
    ctx.observe(be.liburing_ret(ret, errno, Phase::submit, "io_uring_submit_and_wait"));
    ctx.observe(cq_ready(ring, Phase::wait));
    if (io_uring_cq_ready(&ring)) observe_ready_cqe(ctx, ring);
    return;
  }
  submit_n(ctx, be, 1);
  if (mode == "wait-cqe") {
    io_uring_cqe* c = nullptr;
    arm_errno();
    int ret = io_uring_wait_cqe(&ring, &c);
    ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_wait_cqe"));
    if (ret == 0 && c) {
      ctx.observe(IoUringBackend::res_outcome(c->res));
      io_uring_cqe_seen(&ring, c);
    }
    return;
  }
  // get-events: the timer fired long ago, its completion waits as task work.
  usleep(30 * 1000);
  ctx.observe(cq_ready(ring, Phase::wait));
  arm_errno();
  int ret = io_uring_get_events(&ring);
  ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_get_events"));
  ctx.observe(cq_ready(ring, Phase::wait));
  if (io_uring_cq_ready(&ring)) observe_ready_cqe(ctx, ring);
}

}  // namespace
}  // namespace aioh
