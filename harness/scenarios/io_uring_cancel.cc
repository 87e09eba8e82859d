// Cancellation in io_uring. Through the backend's cancel() (one
// IORING_OP_ASYNC_CANCEL by user_data): 0 and the target's -ECANCELED for a
// pending request, -ENOENT for one that is unknown or already complete. A
// request blocked inside an io-wq worker answers -EALREADY (the worker is
// signalled). The IORING_ASYNC_CANCEL_ALL/FD/ANY flags (res = number
// cancelled with ALL), unknown flags, and the synchronous
// IORING_REGISTER_SYNC_CANCEL. Support for the cancel flags and for sync
// cancel is a probe fact (probe_kernel.cc: io_uring.cancel.*,
// io_uring.register.sync_cancel) that the rows require, never the call
// under test.
#include <poll.h>
#include <sys/stat.h>

#include "convention.h"
#include "probe_kernel.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr uint64_t kCancelTag = 100;

// After an ASYNC_CANCEL tagged kCancelTag was submitted: observes its answer
// (phase cancel), then every target it cancelled in user_data order, and
// returns how many targets came. With ALL/ANY the answer is the count;
// otherwise 0 means one was found. Cancelled targets may complete after the
// cancel's own CQE on some paths, so they are waited for.
size_t observe_cancel(CaseContext& ctx, IoUringBackend& be, bool counted) {
  std::vector<RawCqe> got = reap(ctx, be, 1);
  std::vector<RawCqe> more;
  be.reap(0, std::nullopt, more);
  got.insert(got.end(), more.begin(), more.end());
  const RawCqe* c = find_tag(got, kCancelTag);
  if (!c) ctx.broken("no CQE for the ASYNC_CANCEL");
  Outcome co = IoUringBackend::res_outcome(c->res);
  co.phase = Phase::cancel;
  ctx.observe(co);
  const int cancelled = counted ? std::max<int32_t>(c->res, 0) : (c->res == 0 ? 1 : 0);
  std::vector<RawCqe> targets;
  for (const RawCqe& x : got)
    if (x.user_data != kCancelTag) targets.push_back(x);
  if (targets.size() < static_cast<size_t>(cancelled))
    for (RawCqe& x : reap(ctx, be, cancelled - static_cast<int>(targets.size()))) targets.push_back(x);
  observe_cqes(ctx, targets);
  return targets.size();
}

AIOH_URING_CHOICE_SCENARIO(uring_cancel, 8, mode, "pending",
                           "the target: a pending poll, none, a completed NOP, a poll canceled twice",
                           "pending", "missing", "completed", "twice") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  Request r;
  r.tag = 7;
  if (mode == "pending" || mode == "twice") {
    r.op = Op::poll;
    r.fd = p.r();
    r.poll_events = POLLIN;
    ctx.observe(be.submit({&r}));
  } else if (mode == "completed") {
    r.op = Op::nop;
    ctx.observe(be.submit({&r}));
    std::vector<Completion> out;
    be.wait(1, 1, ms(3000), out);
    for (const Completion& c : out) ctx.observe(c.result);
  }
  ctx.observe(be.cancel(r));
  if (mode == "twice") ctx.observe(be.cancel(r));
  if (mode == "pending" || mode == "twice") {
    std::vector<Completion> out;
    Outcome w = be.wait(1, 8, ms(3000), out);
    if (w.is_error) ctx.observe(w);
    for (const Completion& c : out) ctx.observe(c.result);
  }
}

// Three pending polls: user_data 1 on pipe A twice, user_data 2 on pipe B.
// With FD_FIXED (IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_FD_FIXED, 6.0)
// the pipes' read ends are registered files 0 (A) and 1 (B), the polls use
// them as fixed files, and the cancel names fixed_index. Observes the
// cancel's answer, the cancelled targets, then whether anything is left
// pending.
AIOH_SCENARIO(uring_cancel_flags,
              aioh::param::list("flags", "", '|', {"ALL", "FD", "ANY", "FD_FIXED"},
                                "IORING_ASYNC_CANCEL_* flags by name (FD_FIXED implies FD)"),
              aioh::param::integer("raw_flags", 0, "raw bits added to the cancel flags", 0, UINT32_MAX),
              aioh::param::boolean("empty", false, "nothing pending when the cancel runs"),
              aioh::param::integer("fixed_index", 0, "the registered-file index an FD_FIXED cancel names", 0, 15)) {
  unsigned flags = 0;
  const std::string names = "|" + ctx.str("flags") + "|";
  auto has = [&](const char* n) { return names.find("|" + std::string(n) + "|") != std::string::npos; };
  if (has("ALL")) flags |= IORING_ASYNC_CANCEL_ALL;
  if (has("FD")) flags |= IORING_ASYNC_CANCEL_FD;
  if (has("ANY")) flags |= IORING_ASYNC_CANCEL_ANY;
  if (has("FD_FIXED")) flags |= IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_FD_FIXED;
  flags |= static_cast<unsigned>(ctx.num("raw_flags"));
  IoUringBackend& be = up(ctx, 16);
  Pipe a, b;
  if (!a.ok() || !b.ok()) ctx.broken("pipe");
  const bool fixed = flags & IORING_ASYNC_CANCEL_FD_FIXED;
  if (fixed) {
    int fds[2] = {a.r(), b.r()};
    if (io_uring_register_files(&be.ring(), fds, 2) != 0) ctx.broken("registering the pipes");
  }
  const bool empty = ctx.flag("empty");
  unsigned pending = 0;
  if (!empty) {
    const std::pair<int, uint64_t> polls[] = {{a.r(), 1}, {a.r(), 1}, {b.r(), 2}};
    for (auto [fd, tag] : polls) {
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_poll_add(s, fixed ? (fd == a.r() ? 0 : 1) : fd, POLLIN);
      if (fixed) s->flags |= IOSQE_FIXED_FILE;
      io_uring_sqe_set_data64(s, tag);
    }
    submit_n(ctx, be, 3);
    pending = 3;
  }
  io_uring_sqe* s = sqe(ctx, be);
  if (flags & IORING_ASYNC_CANCEL_FD)
    io_uring_prep_cancel_fd(s, fixed ? static_cast<int>(ctx.num("fixed_index")) : a.r(), flags);
  else
    io_uring_prep_cancel64(s, 1, static_cast<int>(flags));
  io_uring_sqe_set_data64(s, kCancelTag);
  submit_n(ctx, be, 1);
  const size_t n_targets =
      observe_cancel(ctx, be, flags & (IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY));
  pending -= static_cast<unsigned>(n_targets);
  if (pending) {
    // What was not matched must still be pending.
    std::vector<RawCqe> rest;
    ctx.observe(be.reap(1, ms(20), rest));
    ctx.check(rest.empty(), "a request the cancel did not match completed");
  }
}

#ifndef IORING_ASYNC_CANCEL_OP
#define IORING_ASYNC_CANCEL_OP (1U << 5)
#endif
#ifndef IORING_ASYNC_CANCEL_USERDATA
#define IORING_ASYNC_CANCEL_USERDATA (1U << 4)
#endif

// Cancel by opcode (IORING_ASYNC_CANCEL_OP, 6.6: sqe->len names the
// opcode). Pending: two polls on pipe A (user_data 1), one on pipe B
// (user_data 2), and a 10 s TIMEOUT (user_data 3). flags: OP | OP|ALL |
// OP|FD|ALL (both keys must match: the polls on pipe A) | OP|ANY (refused);
// USERDATA (IORING_ASYNC_CANCEL_USERDATA, 6.6) adds the user_data key to FD
// or OP, which otherwise leave it out; opcode: POLL_ADD or READ (nothing
// pending matches). Observes the cancel's answer, the cancelled targets,
// then whether anything is still pending.
AIOH_SCENARIO(uring_cancel_op,
              aioh::param::list("flags", "OP", '|', {"OP", "ALL", "FD", "ANY", "USERDATA"},
                                "IORING_ASYNC_CANCEL_* bits"),
              aioh::param::choice("opcode", "POLL_ADD", {"POLL_ADD", "READ"}, "the opcode to match"),
              aioh::param::integer("user_data", 0, "the user_data key (sqe->addr)", 0, 3)) {
  unsigned flags = 0;
  const std::string names = ctx.str("flags");
  if (names.find("OP") != std::string::npos) flags |= IORING_ASYNC_CANCEL_OP;
  if (names.find("ALL") != std::string::npos) flags |= IORING_ASYNC_CANCEL_ALL;
  if (names.find("FD") != std::string::npos) flags |= IORING_ASYNC_CANCEL_FD;
  if (names.find("ANY") != std::string::npos) flags |= IORING_ASYNC_CANCEL_ANY;
  if (names.find("USERDATA") != std::string::npos) flags |= IORING_ASYNC_CANCEL_USERDATA;
  const uint64_t key = static_cast<uint64_t>(ctx.num("user_data"));
  IoUringBackend& be = up(ctx, 16);
  Pipe a, b;
  if (!a.ok() || !b.ok()) ctx.broken("pipe");
  const std::pair<int, uint64_t> polls[] = {{a.r(), 1}, {a.r(), 1}, {b.r(), 2}};
  for (auto [fd, tag] : polls) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_poll_add(s, fd, POLLIN);
    io_uring_sqe_set_data64(s, tag);
  }
  __kernel_timespec ts = kms(10000);
  io_uring_sqe* t = sqe(ctx, be);
  io_uring_prep_timeout(t, &ts, 0, 0);
  io_uring_sqe_set_data64(t, 3);
  submit_n(ctx, be, 4);
  io_uring_sqe* s = sqe(ctx, be);
  if (flags & IORING_ASYNC_CANCEL_FD) {
    io_uring_prep_cancel_fd(s, a.r(), flags);
    s->addr = key;
  } else {
    io_uring_prep_cancel64(s, key, static_cast<int>(flags));
  }
  if (flags & IORING_ASYNC_CANCEL_OP) s->len = ctx.str("opcode") == "READ" ? IORING_OP_READ : IORING_OP_POLL_ADD;
  io_uring_sqe_set_data64(s, kCancelTag);
  submit_n(ctx, be, 1);
  observe_cancel(ctx, be, flags & IORING_ASYNC_CANCEL_ALL);
  // The rest (the timeout at least) must still be pending.
  std::vector<RawCqe> rest;
  ctx.observe(be.reap(1, ms(20), rest));
  ctx.check(rest.empty(), "a request the cancel did not match completed");
}

// Queues IORING_OP_OPENAT of a new FIFO for writing with IOSQE_ASYNC: it
// blocks in fifo_open() inside an io-wq worker until a reader comes.
std::string queue_blocking_open(CaseContext& ctx, IoUringBackend& be,
                                uint64_t tag) {
  const std::string fifo = ctx.scratch_dir() + "/fifo";
  if (mkfifo(fifo.c_str(), 0600) != 0) ctx.broken("mkfifo");
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_openat(s, AT_FDCWD, fifo.c_str(), O_WRONLY | O_CLOEXEC, 0);
  s->flags |= IOSQE_ASYNC;
  io_uring_sqe_set_data64(s, tag);
  submit_n(ctx, be, 1);
  if (!io_wq_worker_asleep())
    ctx.broken("the OPENAT never blocked in an io-wq worker");
  return fifo;
}

// Observes the blocked OPENAT's own completion; if the cancel did not end
// it, a reader is opened so it can finish (and the ring can be torn down).
void observe_open_completion(CaseContext& ctx, IoUringBackend& be,
                             const std::string& fifo) {
  std::vector<RawCqe> out;
  Outcome w = be.reap(1, ms(1000), out);
  int reader = -1;
  if (out.empty()) {
    ctx.observe(w);
    reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    out = reap(ctx, be, 1);
  }
  Outcome t = IoUringBackend::res_outcome(out[0].res);
  if (out[0].res >= 0) {
    // An opened fd: its number is not stable, so observe 0 and say so.
    ctx.note("OPENAT completed with fd " + std::to_string(out[0].res));
    close(out[0].res);
    t = Outcome::ok(0, Channel::cqe_res, Phase::completion);
  }
  ctx.observe(t);
  if (reader >= 0) close(reader);
}

// A request blocked in an io-wq worker: IORING_OP_OPENAT of a FIFO for
// writing with IOSQE_ASYNC waits in fifo_open() for a reader. Cancel finds
// it running (-EALREADY) and signals the worker; the target's own completion
// is then observed.
AIOH_SCENARIO(uring_cancel_running, aioh::param::none) {
  IoUringBackend& be = up(ctx, 8);
  const std::string fifo = queue_blocking_open(ctx, be, 1);
  Request target;
  target.tag = 1;
  ctx.observe(be.cancel(target));
  observe_open_completion(ctx, be, fifo);
}

// IORING_REGISTER_SYNC_CANCEL: the cancel runs inside io_uring_register(2)
// and returns when the target is gone.
AIOH_URING_CHOICE_SCENARIO(uring_sync_cancel, 8, mode, "pending",
                           "the target: a pending poll, none, by fd, an OPENAT blocked in io-wq; or a non-zero pad word",
                           "pending", "missing", "fd", "running", "nonzero-pad") {
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  if (mode == "running") {
    // The cancel finds the OPENAT running (-EALREADY inside), signals the
    // worker and waits for the request to go away.
    const std::string fifo = queue_blocking_open(ctx, be, 1);
    io_uring_sync_cancel_reg reg{};
    reg.addr = 1;
    reg.fd = -1;
    reg.timeout.tv_sec = 2;
    arm_errno();
    int ret = io_uring_register_sync_cancel(&be.ring(), &reg);
    ctx.observe(be.liburing_ret(ret, errno, Phase::cancel,
                                "io_uring_register_sync_cancel"));
    observe_open_completion(ctx, be, fifo);
    return;
  }
  if (mode != "missing" && mode != "nonzero-pad") {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_poll_add(s, p.r(), POLLIN);
    io_uring_sqe_set_data64(s, 1);
    submit_n(ctx, be, 1);
  }
  io_uring_sync_cancel_reg reg{};
  reg.addr = 1;
  reg.fd = -1;
  if (mode == "nonzero-pad") {
    // Reserved words must be zero. liburing 2.3's pad[0] overlays the
    // kernel's later `opcode` byte (IORING_ASYNC_CANCEL_OP, 6.6), so a
    // reserved word on every kernel is pad[1] (the kernel's pad2[0]).
    reg.pad[1] = 1;
  }
  if (mode == "fd") {
    reg.fd = p.r();
    reg.flags = IORING_ASYNC_CANCEL_FD;
  }
  reg.timeout.tv_sec = -1;  // no timeout
  reg.timeout.tv_nsec = -1;
  arm_errno();
  int ret = io_uring_register_sync_cancel(&be.ring(), &reg);
  ctx.observe(be.liburing_ret(ret, errno, Phase::cancel,
                              "io_uring_register_sync_cancel"));
  if (mode != "missing" && mode != "nonzero-pad")
    observe_cqes(ctx, reap(ctx, be, 1));
}

}  // namespace
}  // namespace aioh
