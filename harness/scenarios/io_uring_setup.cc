// io_uring_setup(2) parameter rules, checked on the real syscall through
// liburing's io_uring_queue_init_params(): entry bounds and rounding, CLAMP,
// the CQSIZE rules, unknown flags and reserved fields, flag combinations
// that need a companion (SQ_AFF needs SQPOLL, DEFER_TASKRUN needs
// SINGLE_ISSUER, ...), ATTACH_WQ's wq_fd, a ring created R_DISABLED, and the
// single-issuer rule (SINGLE_ISSUER / DEFER_TASKRUN) broken from another
// thread or a forked child; setup modes only the raw syscall drives
// (NO_MMAP, NO_SQARRAY, REGISTERED_FD_ONLY), and SQPOLL's sharing and
// privilege rules; a CQE_MIXED ring (6.18) carrying a 32-byte CQE among
// 16-byte ones. The sizes the kernel chose are observed as values so the
// row states them.
#include <dirent.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <array>
#include <fstream>
#include <thread>

#include "backends/io_uring_raw.h"
#include "convention.h"
#include "pattern.h"
#include "scenarios/common.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// The SQPOLL threads of this process (comm "iou-sqp-<pid>"). A new SQ
// thread names itself when it first runs (io_uring/sqpoll.c io_sq_thread()
// set_task_comm()), so the count is taken again for up to 300 ms until one
// shows.
int count_sq_threads() {
  int n = 0;
  for (int tries = 0; tries < 300 && n == 0; ++tries) {
    if (tries) usleep(1000);
    n = count_threads_named("iou-sqp-");
  }
  return n;
}

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
    // The SQ ring takes exactly sq_entries SQEs before it is full (not
    // handed to the kernel, so nothing is submitted; liburing's queue is
    // rewound afterwards).
    io_uring& ring = be.ring();
    const unsigned head = ring.sq.sqe_tail;
    unsigned capacity = 0;
    while (io_uring_get_sqe(&ring) && capacity <= p.sq_entries) ++capacity;
    ring.sq.sqe_tail = head;
    ctx.check(capacity == p.sq_entries, "the SQ ring took " + std::to_string(capacity) +
                                            " SQEs, sq_entries is " + std::to_string(p.sq_entries));
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
    auto r = scn::value_in_child<std::array<long, 2>>([&] {
      arm_errno();
      long v = foreign();
      return std::array<long, 2>{v, errno};
    });
    if (!r) ctx.broken("child gave no answer");
    ret = (*r)[0];
    err_after = static_cast<int>((*r)[1]);
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

// Setup modes liburing 2.3 cannot drive, through the raw syscalls
// (backends/io_uring_raw.h). mode:
//  no-mmap (IORING_SETUP_NO_MMAP, 6.5: the rings in this process's memory;
//    a NOP round trip through it, then mmap of the ring fd, refused) |
//  no-mmap-no-memory (NO_MMAP with sq_off/cq_off.user_addr 0) |
//  no-sqarray (IORING_SETUP_NO_SQARRAY, 6.6: SQEs taken in SQ-ring order;
//    sq_off.array reported 0; a NOP round trip) |
//  registered-fd-only (NO_MMAP | REGISTERED_FD_ONLY, 6.5: setup returns a
//    registered ring index, below 16; a NOP entered by it) |
//  registered-fd-only-mmap (REGISTERED_FD_ONLY without NO_MMAP) |
//  null-params (io_uring_setup(2) with no params) |
//  cloexec (a plain ring: whether the fd io_uring_setup(2) returned has
//    FD_CLOEXEC, 1/0, read by fcntl(F_GETFD) before anything else touches it)
AIOH_SCENARIO(uring_setup_mode,
              aioh::param::choice("mode", "no-mmap",
                                  {"no-mmap", "no-mmap-no-memory", "no-sqarray", "registered-fd-only",
                                   "registered-fd-only-mmap", "null-params", "cloexec"},
                                  "which raw setup")) {
  backend(ctx);
  const std::string mode = ctx.str("mode");
  auto setup_outcome = [](long ret, int err) {
    return ret < 0 ? Outcome::error(err, Channel::errno_, Phase::setup) : Outcome::ok(0, Channel::ret, Phase::setup);
  };
  if (mode == "null-params") {
    long fd = rawring::setup(4, nullptr);
    int e = errno;
    if (fd >= 0) close(static_cast<int>(fd));
    ctx.observe(setup_outcome(fd, e));
    return;
  }
  unsigned flags = 0;
  if (mode.rfind("no-mmap", 0) == 0 || mode == "registered-fd-only") flags |= IORING_SETUP_NO_MMAP;
  if (mode == "no-sqarray") flags |= IORING_SETUP_NO_SQARRAY;
  if (mode.rfind("registered-fd-only", 0) == 0) flags |= IORING_SETUP_REGISTERED_FD_ONLY;
  rawring::Ring r;
  int rc = r.create(4, flags, 1, mode != "no-mmap-no-memory");
  ctx.observe(setup_outcome(rc == 0 ? 0 : -1, r.err));
  if (rc != 0) return;
  if (mode == "no-sqarray") ctx.observe(Outcome::ok(r.p.sq_off.array, Channel::ret, Phase::setup));
  if (mode == "registered-fd-only") ctx.observe(Outcome::ok(r.fd < 16, Channel::ret, Phase::setup));
  if (mode == "cloexec") {
    const int fdflags = fcntl(static_cast<int>(r.fd), F_GETFD);
    ctx.observe(fdflags < 0 ? Outcome::error(errno, Channel::errno_, Phase::setup)
                            : Outcome::ok((fdflags & FD_CLOEXEC) ? 1 : 0, Channel::ret, Phase::setup));
  }
  if (!r.queue_nop(7)) ctx.broken("no SQ slot on a new ring");
  long n = r.enter_ring(1, 1, IORING_ENTER_GETEVENTS);
  int e = errno;
  ctx.observe(n < 0 ? Outcome::error(e, Channel::errno_, Phase::submit) : Outcome::ok(n, Channel::ret, Phase::submit));
  uint64_t tag = 0;
  int32_t res = 1;
  if (!r.pop(tag, res) || tag != 7) ctx.broken("the NOP's CQE did not arrive");
  ctx.observe(IoUringBackend::res_outcome(res));
  if (mode == "no-mmap") {
    void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(r.fd), IORING_OFF_SQ_RING);
    int me = errno;
    if (m != MAP_FAILED) munmap(m, 4096);
    ctx.observe(m == MAP_FAILED ? Outcome::error(me, Channel::errno_, Phase::setup)
                                : Outcome::ok(0, Channel::ret, Phase::setup));
  }
}

// IORING_SETUP_SQPOLL and its partners. mode:
//  attach-sqpoll (SQPOLL | ATTACH_WQ to an SQPOLL ring: the thread is shared,
//    one iou-sqp thread serves both; a NOP on the new ring) |
//  attach-non-sqpoll (SQPOLL | ATTACH_WQ to a ring without SQPOLL) |
//  attach-from-child (a forked child attaches to this process's SQPOLL ring:
//    not shared across processes, the child gets an SQ thread of its own) |
//  unprivileged (without CAP_SYS_ADMIN and CAP_SYS_NICE; a NOP)
AIOH_SCENARIO(uring_sqpoll,
              aioh::param::choice("mode", "attach-sqpoll",
                                  {"attach-sqpoll", "attach-non-sqpoll", "attach-from-child", "unprivileged"},
                                  "which SQPOLL setup")) {
  IoUringBackend& be = backend(ctx);
  const std::string mode = ctx.str("mode");
  io_uring_params p{};
  p.flags = IORING_SETUP_SQPOLL;
  p.sq_thread_idle = 100;
  if (mode == "unprivileged") {
    if (!drop_caps({CAP_SYS_ADMIN, CAP_SYS_NICE})) ctx.broken("cannot drop CAP_SYS_ADMIN and CAP_SYS_NICE");
  } else {
    io_uring first{};
    io_uring_params fp{};
    if (mode != "attach-non-sqpoll") {
      fp.flags = IORING_SETUP_SQPOLL;
      fp.sq_thread_idle = 100;
    }
    if (io_uring_queue_init_params(4, &first, &fp) < 0) ctx.broken("the first ring");
    p.flags |= IORING_SETUP_ATTACH_WQ;
    p.wq_fd = static_cast<unsigned>(first.ring_fd);
    if (mode == "attach-from-child") {
      auto e = scn::value_in_child<std::array<int, 2>>([&] {
        long fd = rawring::setup(4, &p);
        int err = fd < 0 ? errno : 0;
        return std::array<int, 2>{err, count_sq_threads()};
      });
      io_uring_queue_exit(&first);
      if (!e) ctx.broken("child did not report");
      auto [err, sq_threads] = *e;
      ctx.observe(err ? Outcome::error(err, Channel::errno_, Phase::setup) : Outcome::ok(0, Channel::ret, Phase::setup));
      // The SQ threads the child then has of its own.
      ctx.observe(Outcome::ok(sq_threads, Channel::ret, Phase::setup));
      return;
    }
    Outcome o = be.setup_raw(4, p);
    ctx.observe(o);
    if (!o.is_error) {
      ctx.observe(Outcome::ok(count_sq_threads(), Channel::ret, Phase::setup));
      io_uring_sqe* s = sqe(ctx, be);
      io_uring_prep_nop(s);
      io_uring_sqe_set_data64(s, 1);
      submit_n(ctx, be, 1);
      observe_cqes(ctx, reap(ctx, be, 1));
      be.teardown();
    }
    io_uring_queue_exit(&first);
    return;
  }
  Outcome o = be.setup_raw(4, p);
  ctx.observe(o);
  if (o.is_error) return;
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  observe_cqes(ctx, reap(ctx, be, 1));
}

// A ring created IORING_SETUP_R_DISABLED before IORING_REGISTER_ENABLE_RINGS.
// mode: wait (io_uring_enter with GETEVENTS: -EBADFD, like a submit) |
// register (files may be registered while disabled: 0; after enabling, a
// fixed-file read through the table) | sqpoll (with SQPOLL the SQ thread
// starts only when the ring is enabled: iou-sqp threads before, after; then
// a NOP).
AIOH_SCENARIO(uring_r_disabled_more,
              aioh::param::choice("mode", "wait", {"wait", "register", "sqpoll"}, "what is done before enabling")) {
  const std::string mode = ctx.str("mode");
  IoUringBackend& be = up(ctx, 8, IORING_SETUP_R_DISABLED | (mode == "sqpoll" ? IORING_SETUP_SQPOLL : 0));
  io_uring& ring = be.ring();
  auto enable = [&] {
    arm_errno();
    int r = io_uring_register(static_cast<unsigned>(ring.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    ctx.observe(be.liburing_ret(r, errno, Phase::setup, "io_uring_register(ENABLE_RINGS)"));
  };
  if (mode == "wait") {
    arm_errno();
    int r = io_uring_enter(static_cast<unsigned>(ring.ring_fd), 0, 1, IORING_ENTER_GETEVENTS, nullptr);
    ctx.observe(be.liburing_ret(r, errno, Phase::wait, "io_uring_enter(GETEVENTS)"));
    return;
  }
  if (mode == "register") {
    int fd = ctx.scratch_file("rdis", 8192, O_RDONLY | O_CLOEXEC);
    arm_errno();
    int r = io_uring_register_files(&ring, &fd, 1);
    ctx.observe(be.liburing_ret(r, errno, Phase::setup, "io_uring_register_files"));
    enable();
    AlignedBuffer buf(4096);
    submit_one(ctx, be, 1, [&](io_uring_sqe* x) {
      io_uring_prep_read(x, 0, buf.data(), 4096, 4096);
      x->flags |= IOSQE_FIXED_FILE;
    });
    auto c = reap(ctx, be, 1);
    observe_cqes(ctx, c);
    if (c[0].res > 0)
      ctx.check(verify_buffer(buf.data(), static_cast<size_t>(c[0].res), kFileSeed, 4096).empty(),
                "fixed-file read data mismatch");
    close(fd);
    return;
  }
  ctx.observe(Outcome::ok(count_sq_threads(), Channel::ret, Phase::setup));
  enable();
  ctx.observe(Outcome::ok(count_sq_threads(), Channel::ret, Phase::setup));
  submit_one(ctx, be, 1, [](io_uring_sqe* x) { io_uring_prep_nop(x); });
  observe_cqes(ctx, reap(ctx, be, 1));
}

// IORING_SETUP_CQE_MIXED (6.18): a ring of 16-byte CQE slots where a request
// may post a 32-byte CQE over two of them, flagged IORING_CQE_F_32. A NOP
// asking for one (IORING_NOP_CQE32 in sqe->nop_flags): res 0, the flag set
// (1), two slots taken (tail - head = 2: 1); after both are consumed, a
// plain NOP: res 0, the flag clear (0). liburing 2.3 knows none of this, so
// the CQ ring is read and advanced here by hand.
AIOH_SCENARIO(uring_cqe_mixed, aioh::param::none) {
  constexpr unsigned kSetupCqeMixed = 1u << 18;  // IORING_SETUP_CQE_MIXED
  constexpr unsigned kNopCqe32 = 1u << 5;        // IORING_NOP_CQE32
  constexpr unsigned kCqeF32 = 1u << 15;         // IORING_CQE_F_32
  IoUringBackend& be = up(ctx, 8, kSetupCqeMixed);
  io_uring& ring = be.ring();
  for (bool big : {true, false}) {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    if (big) s->rw_flags = static_cast<int>(kNopCqe32);  // sqe->nop_flags
    io_uring_sqe_set_data64(s, big ? 1 : 2);
    submit_n(ctx, be, 1);
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts = kms(1000);
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0) ctx.broken("no CQE for the NOP");
    ctx.observe(IoUringBackend::res_outcome(cqe->res));
    ctx.observe(Outcome::ok((cqe->flags & kCqeF32) != 0, Channel::ret, Phase::completion));
    const unsigned slots = io_uring_cq_ready(&ring);
    if (big) ctx.observe(Outcome::ok(slots == 2, Channel::ret, Phase::completion));
    io_uring_cq_advance(&ring, slots);
  }
}

}  // namespace
}  // namespace aioh
