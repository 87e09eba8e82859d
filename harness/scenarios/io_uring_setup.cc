// io_uring_setup(2) parameter rules, checked on the real syscall through
// liburing's io_uring_queue_init_params(): entry bounds and rounding, CLAMP,
// the CQSIZE rules, unknown flags and reserved fields, flag combinations
// that need a companion (SQ_AFF needs SQPOLL, DEFER_TASKRUN needs
// SINGLE_ISSUER, ...), ATTACH_WQ's wq_fd, a ring created R_DISABLED, and the
// single-issuer rule (SINGLE_ISSUER / DEFER_TASKRUN) broken from another
// thread or a forked child. The sizes the kernel chose are observed as values
// so the row states them.
#include <poll.h>
#include <sys/wait.h>

#include <thread>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// IORING_REGISTER_ENABLE_RINGS through liburing's raw io_uring_register():
// liburing 2.3 declares io_uring_enable_rings() in liburing.h but its
// liburing.so.2.3 does not export the symbol (missing from liburing.map).
Outcome enable_rings(IoUringBackend& be) {
  arm_errno();
  int ret = io_uring_register(static_cast<unsigned>(be.ring().ring_fd),
                              IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  int e = errno;
  return be.liburing_ret(ret, e, Phase::setup,
                         "io_uring_register(ENABLE_RINGS)");
}

AIOH_SCENARIO(uring_setup,
              aioh::param::integer("entries", 8, "io_uring_setup's entries", 0, UINT32_MAX),
              aioh::param::list("flags", "", '|', aioh::uring::setup_flag_names(), "IORING_SETUP_* flags by name"),
              aioh::param::integer("raw_flags", 0, "raw bits added to the flags", 0, UINT32_MAX),
              aioh::param::integer("cq_entries", 0, "io_uring_params.cq_entries", 0, UINT32_MAX),
              aioh::param::integer("sq_thread_cpu", 0, "io_uring_params.sq_thread_cpu", 0, UINT32_MAX),
              aioh::param::integer("resv", 0, "a value in io_uring_params.resv[0]", 0, UINT32_MAX),
              aioh::param::optional_choice("wq_fd", {"closed", "file", "ring"},
                                           "io_uring_params.wq_fd: a closed fd, a file, another ring"),
              aioh::param::list("report", "", ',', {"sq_entries", "cq_entries"},
                                "sizes the kernel chose, observed as values")) {
  IoUringBackend& be = backend(ctx);
  io_uring_params p{};
  p.flags = setup_flags(ctx, ctx.str("flags")) |
            static_cast<unsigned>(ctx.num("raw_flags"));
  p.cq_entries = static_cast<unsigned>(ctx.num("cq_entries"));
  p.sq_thread_cpu = static_cast<unsigned>(ctx.num("sq_thread_cpu"));
  p.resv[0] = static_cast<unsigned>(ctx.num("resv"));
  int wq_fd = -1;
  io_uring other{};
  bool other_up = false;
  const std::string wq = ctx.has("wq_fd") ? ctx.str("wq_fd") : "";
  if (wq == "closed") {
    wq_fd = closed_fd();
  } else if (wq == "file") {
    wq_fd = ctx.scratch_file("wq", 4096, O_RDONLY | O_CLOEXEC);
  } else if (wq == "ring") {
    if (io_uring_queue_init(4, &other, 0) < 0) ctx.broken("first ring");
    other_up = true;
    wq_fd = other.ring_fd;
  } else if (!wq.empty()) {
    ctx.broken("unknown wq_fd " + wq);
  }
  if (wq_fd >= 0) p.wq_fd = static_cast<unsigned>(wq_fd);

  Outcome o = be.setup_raw(static_cast<unsigned>(ctx.num("entries")), p);
  ctx.observe(o);
  if (!o.is_error) {
    const std::string rep = ctx.str("report");
    if (rep.find("sq_entries") != std::string::npos)
      ctx.observe(Outcome::ok(p.sq_entries, Channel::ret, Phase::setup));
    if (rep.find("cq_entries") != std::string::npos)
      ctx.observe(Outcome::ok(p.cq_entries, Channel::ret, Phase::setup));
    // The ring must be usable: one NOP round trip.
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, 1);
    if (p.flags & IORING_SETUP_R_DISABLED) enable_rings(be);
    submit_n(ctx, be, 1);
    auto c = reap(ctx, be, 1);
    ctx.check(c[0].res == 0, "NOP on the new ring completed with " +
                                 std::to_string(c[0].res));
  }
  if (other_up) io_uring_queue_exit(&other);
  if (wq == "file") close(wq_fd);
}

// A ring created with IORING_SETUP_R_DISABLED refuses submission until
// IORING_REGISTER_ENABLE_RINGS; enabling twice is refused.
AIOH_SCENARIO(uring_r_disabled,
              aioh::param::boolean("enable_twice", false, "enable the ring a second time (refused)")) {
  IoUringBackend& be = up(ctx, 8, IORING_SETUP_R_DISABLED);
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 1);
  ctx.observe(be.submit_queued());
  ctx.observe(enable_rings(be));
  // The refused SQE is still queued: this submit hands it over.
  ctx.observe(be.submit_queued());
  observe_cqes(ctx, reap(ctx, be, 1));
  if (ctx.flag("enable_twice")) {
    ctx.observe(enable_rings(be));
  }
}

// The single-issuer rule: with IORING_SETUP_SINGLE_ISSUER only the task that
// created the ring may submit; with DEFER_TASKRUN also only it may wait for
// completions.
AIOH_SCENARIO(uring_single_issuer,
              aioh::param::boolean("defer_taskrun", false, "add IORING_SETUP_DEFER_TASKRUN"),
              aioh::param::choice("from", "thread", {"thread", "fork"}, "the other task: a thread, or a forked child"),
              aioh::param::choice("act", "submit", {"submit", "wait"}, "what the other task does on the ring")) {
  unsigned flags = IORING_SETUP_SINGLE_ISSUER;
  if (ctx.flag("defer_taskrun")) flags |= IORING_SETUP_DEFER_TASKRUN;
  IoUringBackend& be = up(ctx, 8, flags);
  const std::string from = ctx.str("from");
  const std::string act = ctx.str("act");

  Pipe target;
  if (!target.ok()) ctx.broken("pipe");
  if (act == "wait") {
    // Something to wait for that is not complete yet: the foreign task's
    // wait has to enter the kernel.
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_poll_add(s, target.r(), POLLIN);
    io_uring_sqe_set_data64(s, 1);
    submit_n(ctx, be, 1);
  }
  // What the other task does: one io_uring_enter() on the shared ring.
  auto foreign = [&be, act]() -> long {
    if (act == "submit") {
      io_uring_sqe* s = io_uring_get_sqe(&be.ring());
      if (!s) return -1000;
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, 1);
      return io_uring_submit(&be.ring());
    }
    __kernel_timespec ts = kms(50);
    io_uring_cqe* cqe = nullptr;
    return io_uring_wait_cqe_timeout(&be.ring(), &cqe, &ts);
  };
  long ret = 0;
  int err_after = kErrnoSentinel;
  if (from == "thread") {
    std::thread t([&] {
      arm_errno();
      ret = foreign();
      err_after = errno;
    });
    t.join();
  } else {
    int pfd[2];
    if (pipe(pfd) != 0) ctx.broken("pipe");
    pid_t pid = fork();
    if (pid < 0) ctx.broken("fork");
    if (pid == 0) {
      arm_errno();
      long r[2] = {foreign(), errno};
      ssize_t w = write(pfd[1], r, sizeof r);
      _exit(w == sizeof r ? 0 : 1);
    }
    long r[2] = {0, 0};
    ssize_t n = read(pfd[0], r, sizeof r);
    int st = 0;
    waitpid(pid, &st, 0);
    close(pfd[0]);
    close(pfd[1]);
    if (n != sizeof r) ctx.broken("child gave no answer");
    ret = r[0];
    err_after = static_cast<int>(r[1]);
  }
  if (ret == -1000) ctx.broken("no SQE");
  ctx.observe(be.liburing_ret(ret, err_after,
                              act == "submit" ? Phase::submit : Phase::wait,
                              "io_uring_enter from another task"));
  if (act == "submit") {
    // A thread shares liburing's view, so its refused SQE is still queued;
    // a forked child's is not in the parent's view, so queue one here.
    if (from == "fork") {
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, 1);
    }
    ctx.observe(be.submit_queued());
  } else if (write(target.w(), "x", 1) != 1) {
    ctx.broken("pipe write");
  }
  observe_cqes(ctx, reap(ctx, be, 1));
}

}  // namespace
}  // namespace aioh
