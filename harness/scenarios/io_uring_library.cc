// liburing's own promises, each where a subtly broken build would hide from
// the other families (scripts/mutants, libmatrix/mutants/SURFACE.md):
// io_uring_submit_and_wait() returns only once wait_nr CQEs are there,
// io_uring_wait_cqe() blocks for one, io_uring_wait_cqe_timeout() waits out
// its relative timeout, io_uring_peek_batch_cqe() hands over at most `count`
// CQEs, io_uring_get_events() and io_uring_submit_and_get_events() flush
// deferred completions into the CQ ring, io_uring_queue_exit() closes the
// ring fd and unmaps the rings, io_uring_get_probe() and
// io_uring_get_probe_ring() report what the kernel's IORING_REGISTER_PROBE
// does, the file and buffer table calls count what they updated in a table
// of the size asked for and post their tags' CQEs, io_uring_unregister_ring_fd()
// puts the ring back on its fd, io_uring_register_iowq_aff() passes the
// kernel's refusal of an empty mask on, io_uring_mlock_size() is 0 where rings are
// not charged to RLIMIT_MEMLOCK, io_uring_setup() keeps liburing's -errno
// convention, and io_uring_ring_dontfork() keeps the rings out of a forked
// child. The waits hang on a timeout SQE (the kernel's own clock), never on a
// sleep racing io-wq.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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

// A 4096-byte read at offset 4096 of the scratch file into `buf`, its SQE
// made by `prep` (a fixed file or a fixed buffer): its CQE observed and the
// bytes it read checked.
template <class Prep>
void read_through(CaseContext& ctx, IoUringBackend& be, const uint8_t* buf, Prep prep) {
  io_uring_sqe* s = sqe(ctx, be);
  prep(s);
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  auto c = reap(ctx, be, 1);
  observe_cqes(ctx, c);
  if (c[0].res > 0)
    ctx.check(verify_buffer(buf, c[0].res, kFileSeed, 4096).empty(), "the registered-resource read's bytes are wrong");
}

// files-update: a table of four empty slots (fd -1, io_uring_register(2)
// IORING_REGISTER_FILES), io_uring_register_files_update() of slots 2 and 3,
// then a read through slot 3. files-sparse: the table from
// io_uring_register_files_sparse(4), slot 3 updated and read.
void files_table(CaseContext& ctx, IoUringBackend& be, bool sparse) {
  io_uring& ring = be.ring();
  int fd = ctx.scratch_file("table", 16384, O_RDONLY | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file");
  const int empty[4] = {-1, -1, -1, -1};
  if (lib_call(ctx, sparse ? "io_uring_register_files_sparse" : "io_uring_register_files", [&] {
        return sparse ? io_uring_register_files_sparse(&ring, 4) : io_uring_register_files(&ring, empty, 4);
      }) != 0) {
    close(fd);
    return;
  }
  const int fds[2] = {fd, fd};
  lib_call(ctx, "io_uring_register_files_update", [&] {
    return sparse ? io_uring_register_files_update(&ring, 3, fds, 1) : io_uring_register_files_update(&ring, 2, fds, 2);
  });
  AlignedBuffer buf(4096);
  read_through(ctx, be, buf.data(), [&](io_uring_sqe* s) {
    io_uring_prep_read(s, 3, buf.data(), 4096, 4096);
    s->flags |= IOSQE_FIXED_FILE;
  });
  close(fd);
}

// The one CQE a released tagged resource posts (io_uring_register(2)
// IORING_REGISTER_FILES2/BUFFERS2: user_data the tag, the rest zeroed),
// waited for up to 3 s: before 6.3 it comes from a delayed work up to a
// second later. Observes its user_data and res; none is observed as 0.
void observe_tag_cqe(CaseContext& ctx, IoUringBackend& be) {
  io_uring_cqe* c = nullptr;
  __kernel_timespec t = kms(3000);
  if (io_uring_wait_cqe_timeout(&be.ring(), &c, &t) != 0 || !c) {
    ctx.observe(Outcome::ok(0, Channel::ret, Phase::completion));
    return;
  }
  ctx.observe(Outcome::ok(static_cast<int64_t>(c->user_data), Channel::ret, Phase::completion));
  ctx.observe(IoUringBackend::res_outcome(c->res));
  io_uring_cqe_seen(&be.ring(), c);
}

// files-tags: two slots registered with io_uring_register_files_tags (slot 1
// tagged 77), slot 1 emptied with io_uring_register_files_update_tag, then
// the tag's CQE.
void files_tags(CaseContext& ctx, IoUringBackend& be) {
  io_uring& ring = be.ring();
  int fd = ctx.scratch_file("tagged", 4096, O_RDONLY | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file");
  const int fds[2] = {fd, fd};
  const __u64 tags[2] = {0, 77};
  if (lib_call(ctx, "io_uring_register_files_tags", [&] { return io_uring_register_files_tags(&ring, fds, tags, 2); }) ==
      0) {
    const int none[1] = {-1};
    const __u64 untagged[1] = {0};
    lib_call(ctx, "io_uring_register_files_update_tag",
             [&] { return io_uring_register_files_update_tag(&ring, 1, none, untagged, 1); });
    observe_tag_cqe(ctx, be);
  }
  close(fd);
}

// buffers-tags: two buffers registered with io_uring_register_buffers_tags
// (buffer 1 tagged 88), buffer 1 replaced with io_uring_register_buffers_update_tag,
// the tag's CQE, then a READ_FIXED into the new buffer 1. buffers-sparse: the
// table from io_uring_register_buffers_sparse(2), buffer 1 set and read into.
void buffers_table(CaseContext& ctx, IoUringBackend& be, bool sparse) {
  io_uring& ring = be.ring();
  int fd = ctx.scratch_file("bufs", 16384, O_RDONLY | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file");
  AlignedBuffer a(4096), b(4096), fresh(4096);
  const iovec iov[2] = {{a.data(), 4096}, {b.data(), 4096}};
  const __u64 tags[2] = {0, 88};
  if (lib_call(ctx, sparse ? "io_uring_register_buffers_sparse" : "io_uring_register_buffers_tags", [&] {
        return sparse ? io_uring_register_buffers_sparse(&ring, 2) : io_uring_register_buffers_tags(&ring, iov, tags, 2);
      }) != 0) {
    close(fd);
    return;
  }
  const iovec nv = {fresh.data(), 4096};
  const __u64 untagged = 0;
  lib_call(ctx, "io_uring_register_buffers_update_tag",
           [&] { return io_uring_register_buffers_update_tag(&ring, 1, &nv, &untagged, 1); });
  if (!sparse) observe_tag_cqe(ctx, be);
  read_through(ctx, be, fresh.data(),
               [&](io_uring_sqe* s) { io_uring_prep_read_fixed(s, fd, fresh.data(), 4096, 4096, 1); });
  close(fd);
}

// A NOP submitted through io_uring_submit(): its answer and its CQE.
void nop_round(CaseContext& ctx, IoUringBackend& be) {
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 7);
  ctx.observe(be.submit_queued());
  if (ready_within(be, 1000) == 1) observe_ready_cqe(ctx, be.ring());
}

// The RLIMIT_MEMLOCK bytes a 5.11 kernel charged for a ring of 65536 entries
// with IORING_SETUP_CLAMP (fs/io_uring.c ring_pages(): a power-of-two page
// count for the rings, SQ index array included, and one for the SQE array),
// from the offsets this kernel reports for that ring. Setup outside the
// call under test: a refusal is broken.
size_t clamped_ring_pages_bytes(CaseContext& ctx) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CLAMP;
  const int fd = static_cast<int>(syscall(__NR_io_uring_setup, 65536, &p));
  if (fd < 0) ctx.broken("io_uring_setup(65536, CLAMP): " + errno_name(errno));
  close(fd);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto pow2_pages = [&](size_t bytes) {
    size_t n = 1;
    while (n * page < bytes) n <<= 1;
    return n;
  };
  const size_t rings = std::max<size_t>(p.sq_off.array + 4ul * p.sq_entries,
                                        p.cq_off.cqes + sizeof(io_uring_cqe) * p.cq_entries);
  return page * (pow2_pages(rings) + pow2_pages(sizeof(io_uring_sqe) * p.sq_entries));
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
// submit-and-get-events (a DEFER_TASKRUN ring: a 1 ms timeout submitted,
//   CQEs ready 30 ms later, then a NOP: io_uring_submit_and_get_events'
//   answer and the CQEs ready after it) |
// get-probe (io_uring_get_probe() returned a probe, and on how many opcodes it
//   disagrees with the kernel's own IORING_REGISTER_PROBE) |
// get-probe-ring (the same for io_uring_get_probe_ring() of the case's ring) |
// files-update / files-sparse (files_table above) |
// files-tags / buffers-tags / buffers-sparse (files_tags, buffers_table above) |
// unregister-ring-fd (io_uring_register_ring_fd's and
//   io_uring_unregister_ring_fd's answers, then a NOP round) |
// iowq-aff (io_uring_register_iowq_aff with a zero-sized mask, then with
//   CPU 0's, then io_uring_unregister_iowq_aff: each answer) |
// mlock-size (io_uring_mlock_size for 0 entries: its answer; for 8: whether
//   it is 0; for 65536 with IORING_SETUP_CLAMP: whether it is the pages of
//   the clamped ring the kernel sets up) |
// setup-export (liburing's io_uring_setup() wrapper, not the raw syscall: for
//   0 entries its answer; for 4, whether it gave an fd and the sq_entries it
//   wrote back) |
// dontfork (io_uring_ring_dontfork's answer, then a forked child reading the
//   SQ head through the ring's mapping: its value, or the signal it died of)
AIOH_SCENARIO(uring_library,
              aioh::param::choice("mode", "submit-and-wait",
                                  {"submit-and-wait", "wait-cqe", "wait-cqe-timeout", "peek-batch", "get-events",
                                   "submit-and-get-events", "queue-exit", "get-probe", "get-probe-ring",
                                   "files-update", "files-sparse", "files-tags", "buffers-tags", "buffers-sparse",
                                   "unregister-ring-fd", "iowq-aff", "mlock-size", "setup-export", "dontfork"},
                                  "the liburing promise under test")) {
  const std::string mode = ctx.str("mode");
  if (mode == "files-update" || mode == "files-sparse") {
    files_table(ctx, up(ctx, 8), mode == "files-sparse");
    return;
  }
  if (mode == "files-tags") {
    files_tags(ctx, up(ctx, 8));
    return;
  }
  if (mode == "buffers-tags" || mode == "buffers-sparse") {
    buffers_table(ctx, up(ctx, 8), mode == "buffers-sparse");
    return;
  }
  if (mode == "unregister-ring-fd") {
    IoUringBackend& be = up(ctx, 8);
    lib_call(ctx, "io_uring_register_ring_fd", [&] { return io_uring_register_ring_fd(&be.ring()); });
    lib_call(ctx, "io_uring_unregister_ring_fd", [&] { return io_uring_unregister_ring_fd(&be.ring()); });
    nop_round(ctx, be);
    return;
  }
  if (mode == "iowq-aff") {
    IoUringBackend& be = up(ctx, 8);
    cpu_set_t mask;
    CPU_ZERO(&mask);
    CPU_SET(0, &mask);
    lib_call(ctx, "io_uring_register_iowq_aff", [&] { return io_uring_register_iowq_aff(&be.ring(), 0, &mask); });
    if (lib_call(ctx, "io_uring_register_iowq_aff",
                 [&] { return io_uring_register_iowq_aff(&be.ring(), sizeof mask, &mask); }) == 0)
      lib_call(ctx, "io_uring_unregister_iowq_aff", [&] { return io_uring_unregister_iowq_aff(&be.ring()); });
    return;
  }
  if (mode == "mlock-size") {
    lib_call(ctx, "io_uring_mlock_size", [] { return io_uring_mlock_size(0, 0); });
    arm_errno();
    const ssize_t r = io_uring_mlock_size(8, 0);
    if (r < 0) ctx.observe(from_neg_errno(r, errno, Phase::setup, ctx.backend().conventions(), "io_uring_mlock_size"));
    ctx.observe(Outcome::ok(r == 0, Channel::ret, Phase::setup));
    // 65536 entries: liburing's probing ring (no flags) is refused, so it
    // computes the size for the clamped ring on any kernel; compared with
    // the pages the kernel's own offsets need for that ring.
    arm_errno();
    const ssize_t big = io_uring_mlock_size(65536, IORING_SETUP_CLAMP);
    if (big < 0) ctx.observe(from_neg_errno(big, errno, Phase::setup, ctx.backend().conventions(), "io_uring_mlock_size"));
    ctx.observe(Outcome::ok(big >= 0 && static_cast<size_t>(big) == clamped_ring_pages_bytes(ctx), Channel::ret,
                            Phase::setup));
    return;
  }
  if (mode == "setup-export") {
    io_uring_params p{};
    long r = lib_call(ctx, "io_uring_setup", [&] { return io_uring_setup(0, &p); });
    if (r >= 0) close(static_cast<int>(r));
    p = {};
    arm_errno();
    r = io_uring_setup(4, &p);
    if (r < 0) ctx.observe(from_neg_errno(r, errno, Phase::setup, ctx.backend().conventions(), "io_uring_setup"));
    ctx.observe(Outcome::ok(r >= 0, Channel::ret, Phase::setup));
    ctx.observe(Outcome::ok(p.sq_entries, Channel::ret, Phase::setup));
    if (r >= 0) close(static_cast<int>(r));
    return;
  }
  if (mode == "dontfork") {
    IoUringBackend& be = up(ctx, 8);
    lib_call(ctx, "io_uring_ring_dontfork", [&] { return io_uring_ring_dontfork(&be.ring()); });
    const volatile unsigned* head = be.ring().sq.khead;
    int sig = 0;
    auto o = scn::outcome_in_child([&] { return Outcome::ok(*head, Channel::ret, Phase::setup); }, Phase::setup, &sig);
    if (!o) ctx.broken("the forked child neither answered nor died of a signal");
    ctx.observe(*o);
    return;
  }
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
  if (mode == "get-probe" || mode == "get-probe-ring") {
    io_uring_probe* lib = mode == "get-probe" ? io_uring_get_probe() : io_uring_get_probe_ring(&up(ctx, 8).ring());
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
  const bool deferred = mode == "get-events" || mode == "submit-and-get-events";
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
  if (mode == "submit-and-get-events") {
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, 2);
    arm_errno();
    int ret = io_uring_submit_and_get_events(&ring);
    ctx.observe(be.liburing_ret(ret, errno, Phase::submit, "io_uring_submit_and_get_events"));
    ctx.observe(cq_ready(ring, Phase::wait));
    return;
  }
  arm_errno();
  int ret = io_uring_get_events(&ring);
  ctx.observe(be.liburing_ret(ret, errno, Phase::wait, "io_uring_get_events"));
  ctx.observe(cq_ready(ring, Phase::wait));
  if (io_uring_cq_ready(&ring)) observe_ready_cqe(ctx, ring);
}

}  // namespace
}  // namespace aioh
