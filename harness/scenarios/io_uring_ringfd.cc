// Registered ring fds (IORING_REGISTER_RING_FDS, 5.18): a ring fd entered
// into the calling task's table of up to 16 (io_uring/tctx.c
// IO_RINGFD_REG_MAX) is then named by its index with
// IORING_ENTER_REGISTERED_RING, and with IORING_REGISTER_USE_REGISTERED_RING
// (6.3) also by io_uring_register(2). The table is per task: another thread
// does not see it. Indexes out of range, empty slots, unregistering, and a
// non-ring fd offered for registration.
#include <unistd.h>

#include <climits>
#include <thread>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"

#ifndef IORING_REGISTER_USE_REGISTERED_RING
#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)
#endif

namespace aioh {
namespace {

using namespace uring;

// The highest fd number in [3, limit) that is not open in this process, or -1.
int free_fd_below(int limit) {
  for (int fd = limit - 1; fd > 2; --fd)
    if (fcntl(fd, F_GETFD) == -1) return fd;
  return -1;
}

// The highest open fd number in [3, limit) other than `ring_fd` whose file is
// not an io_uring instance (its /proc link is not "anon_inode:[io_uring]"), or -1.
int non_ring_fd_below(int limit, int ring_fd) {
  for (int fd = limit - 1; fd > 2; --fd) {
    if (fd == ring_fd) continue;
    char link[PATH_MAX] = {};
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
    if (n > 0 && std::string_view(link, static_cast<size_t>(n)) != "anon_inode:[io_uring]") return fd;
  }
  return -1;
}

// Registers `fd_to_register` at `offset` (-1: any free slot) through
// liburing's io_uring_register(); returns its answer and sets `index`.
Outcome register_at(IoUringBackend& be, int fd_to_register, int offset, unsigned& index) {
  io_uring_rsrc_update up{};
  up.offset = static_cast<__u32>(offset);
  up.data = static_cast<__u64>(fd_to_register);
  arm_errno();
  int r = io_uring_register(static_cast<unsigned>(be.ring().ring_fd), IORING_REGISTER_RING_FDS, &up, 1);
  Outcome o = be.liburing_ret(r, errno, Phase::setup, "io_uring_register(RING_FDS)");
  if (r == 1) index = up.offset;
  return o;
}

// mode: register (then a NOP through liburing, which enters by the index) |
// bad-index (enter with index 20) | empty-slot (enter with an index never
// registered) | other-thread (a thread enters with the index this task
// registered) | unregister (then enter by the old index) | not-a-ring
// (register a regular file) | register-by-index (io_uring_register(2) names
// the ring by its index: IORING_REGISTER_PROBE | USE_REGISTERED_RING, the
// ring registered at a slot whose fd number is open on /dev/null)
AIOH_URING_CHOICE_SCENARIO(uring_ring_fds, 8, mode, "register", "what is done with the registered-ring table",
                           "register", "bad-index", "empty-slot", "other-thread", "unregister", "not-a-ring",
                           "register-by-index") {
  const int ring_fd = be.ring().ring_fd;
  auto enter_index = [&](unsigned index) {
    arm_errno();
    int r = io_uring_enter(index, 0, 0, IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING, nullptr);
    return be.liburing_ret(r, errno, Phase::wait, "io_uring_enter(REGISTERED_RING)");
  };
  if (mode == "bad-index") {
    ctx.observe(enter_index(20));
    return;
  }
  if (mode == "empty-slot") {
    ctx.observe(enter_index(5));
    return;
  }
  if (mode == "not-a-ring") {
    int fd = ctx.scratch_file("ringfd", 4096, O_RDONLY | O_CLOEXEC);
    unsigned index = 0;
    ctx.observe(register_at(be, fd, -1, index));
    close(fd);
    return;
  }
  if (mode == "register") {
    arm_errno();
    int ret = io_uring_register_ring_fd(&be.ring());
    ctx.observe(be.liburing_ret(ret, errno, Phase::setup, "io_uring_register_ring_fd"));
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, 1);
    ctx.observe(be.submit_queued());
    observe_cqes(ctx, reap(ctx, be, 1));
    return;
  }
  if (mode == "register-by-index") {
    // The slot's number is also an fd that is not a ring: a kernel that takes
    // the index for an fd answers for that file. Prefer the highest free
    // number (at most 15, the table's last), opened on /dev/null; a child
    // spawned beside many others may have every number below 16 open, and then
    // any of them that is not an io_uring instance serves (it is left open).
    int slot = free_fd_below(16);
    bool ours = slot > 2;
    if (ours) {
      int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null_fd < 0 || dup2(null_fd, slot) != slot) ctx.broken("cannot open /dev/null at a free fd below 16");
      close(null_fd);
    } else {
      slot = non_ring_fd_below(16, ring_fd);
      if (slot < 0) ctx.broken("every fd below 16 is an io_uring instance");
    }
    unsigned index = 0;
    Outcome r = register_at(be, ring_fd, slot, index);
    ctx.observe(r);
    std::vector<uint8_t> mem(sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op), 0);
    arm_errno();
    int pr = io_uring_register(static_cast<unsigned>(slot), IORING_REGISTER_PROBE | IORING_REGISTER_USE_REGISTERED_RING,
                               mem.data(), 256);
    ctx.observe(be.liburing_ret(pr, errno, Phase::setup, "io_uring_register(PROBE by index)"));
    if (ours) close(slot);
    return;
  }
  unsigned index = 0;
  Outcome r = register_at(be, ring_fd, -1, index);
  ctx.observe(r);
  if (r.is_error) return;
  if (mode == "other-thread") {
    Outcome t;
    std::thread th([&] { t = enter_index(index); });
    th.join();
    ctx.observe(t);
    ctx.observe(enter_index(index));  // still valid for the task that registered it
    return;
  }
  // unregister
  io_uring_rsrc_update up{};
  up.offset = index;
  arm_errno();
  int u = io_uring_register(static_cast<unsigned>(ring_fd), IORING_UNREGISTER_RING_FDS, &up, 1);
  ctx.observe(be.liburing_ret(u, errno, Phase::teardown, "io_uring_register(UNREGISTER_RING_FDS)"));
  ctx.observe(enter_index(index));
}

}  // namespace
}  // namespace aioh
