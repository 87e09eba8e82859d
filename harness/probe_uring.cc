// io_uring behaviour facts of the catalog's depth rows (see probe_uring.h).
// Each answer comes from one request or setup the rows never make in that
// form: a cancel by opcode of one poll under another user_data, a multishot timeout that
// repeats once, an ETIME_SUCCESS timeout with no link behind it, a NO_MMAP
// ring of four entries that is only set up, a buffer registered next to a ring
// under a locked-memory limit. A refusal with EINVAL means the kernel
// does not know the flag; any other answer leaves the fact undecided.
#include "probe_uring.h"

#include <fcntl.h>
#include <liburing.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backends/io_uring_raw.h"
#include "errno_names.h"
#include "timespec.h"

#ifndef IORING_ASYNC_CANCEL_OP
#define IORING_ASYNC_CANCEL_OP (1U << 5)
#endif
#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

namespace aioh {
namespace {

using json = nlohmann::json;

constexpr unsigned char kOpPipe = 62;  // IORING_OP_PIPE (6.16), newer than liburing 2.3's headers

std::string res_name(int res) { return res < 0 ? errno_name(-res) : std::to_string(res); }

// Submits the one prepared SQE and returns its CQE (res, flags); res 1 when
// none came within `ms`.
std::pair<int, unsigned> one_cqe(io_uring& ring, int ms) {
  if (int r = io_uring_submit(&ring); r != 1) return {r < 0 ? r : -EIO, 0};
  auto ts = ms_to_timespec<__kernel_timespec>(ms);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0) return {1, 0};
  std::pair<int, unsigned> out{cqe->res, cqe->flags};
  io_uring_cqe_seen(&ring, cqe);
  return out;
}

// IORING_ASYNC_CANCEL_OP (6.6): match by opcode (sqe->len). A pending
// POLL_ADD (user_data 1) cancelled by opcode under user_data 99: 0 where the
// opcode is the key; -ENOENT where the kernel takes the flag bit but still
// looks polls up by user_data (Debian's 6.1); io_uring/cancel.c
// io_async_cancel_prep() of older kernels refuses the flag with -EINVAL.
json cancel_op() {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    io_uring_queue_exit(&ring);
    return undecided("pipe2 " + errno_name(errno));
  }
  io_uring_sqe* s = io_uring_get_sqe(&ring);
  io_uring_prep_poll_add(s, p[0], POLLIN);
  io_uring_sqe_set_data64(s, 1);
  s = io_uring_get_sqe(&ring);
  io_uring_prep_cancel64(s, 99, static_cast<int>(IORING_ASYNC_CANCEL_OP));
  s->len = IORING_OP_POLL_ADD;
  io_uring_sqe_set_data64(s, 2);
  int res = 1;
  if (io_uring_submit(&ring) == 2) {
    for (int i = 0; i < 2; ++i) {
      __kernel_timespec ts{0, 300 * 1000000LL};
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0) break;
      if (cqe->user_data == 2) res = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
      if (res != 1) break;
    }
  }
  io_uring_queue_exit(&ring);
  close(p[0]);
  close(p[1]);
  if (res == 0) return yes_no(true);
  if (res == -ENOENT || res == -EINVAL) return yes_no(false);
  return undecided("a cancel by opcode of a pending poll answered " + res_name(res));
}

// A timeout of 1 ms with `flags`: -ETIME where the flag is known,
// -EINVAL where io_uring/timeout.c __io_timeout_prep() refuses it. For
// IORING_TIMEOUT_MULTISHOT (6.4) off = 1 repeat: one CQE without
// IORING_CQE_F_MORE.
json timeout_flag(unsigned flags, unsigned off) {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  __kernel_timespec ts{0, 1000000};
  io_uring_prep_timeout(io_uring_get_sqe(&ring), &ts, off, flags);
  auto [res, cflags] = one_cqe(ring, 1000);
  io_uring_queue_exit(&ring);
  if (res == -ETIME && !(cflags & IORING_CQE_F_MORE)) return yes_no(true);
  if (res == -EINVAL) return yes_no(false);
  return undecided("a 1 ms timeout with flags " + std::to_string(flags) + " answered " + res_name(res) +
                   (cflags & IORING_CQE_F_MORE ? " with IORING_CQE_F_MORE" : ""));
}

// IORING_SETUP_NO_MMAP (6.5), alone or with REGISTERED_FD_ONLY, and
// IORING_SETUP_CQE_MIXED (6.18) / SQE_MIXED (6.19), each alone: whether
// the kernel takes a ring in memory this process gives (the rows then drive
// requests through it); io_uring/io_uring.c io_uring_setup() of older
// kernels refuses the unknown flag with -EINVAL.
json setup_mode(unsigned flags) {
  rawring::Ring r;
  if (r.create(4, flags) == 0) return yes_no(true);
  if (r.err == EINVAL) return yes_no(false);
  return undecided("io_uring_setup " + errno_name(r.err));
}

// Whether a ring's own pages count against RLIMIT_MEMLOCK, seen through
// IORING_REGISTER_BUFFERS, which charges the same per-user counter
// (io_uring/rsrc.c io_buffer_account_pin() -> __io_account_mem()): in this
// (probe) child without CAP_IPC_LOCK and with a 16-page limit, an 8-entry
// ring, then one 16-page buffer. It fits only where the ring took nothing
// (false); where it is refused a 12-page buffer must fit (true), or
// something else holds this user's locked memory and the fact is undecided.
// Not the setup under a limit that faults.memlock-ring-setup tests.
json ring_charge() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return undecided("capget " + errno_name(errno));
  d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
  constexpr size_t kPages = 16, kPage = 4096;
  rlimit lim{kPages * kPage, kPages * kPage};
  if (syscall(SYS_capset, &h, d) != 0 || setrlimit(RLIMIT_MEMLOCK, &lim) != 0)
    return undecided("cannot drop CAP_IPC_LOCK and set RLIMIT_MEMLOCK: " + errno_name(errno));
  io_uring ring{};
  if (int r = io_uring_queue_init(8, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  void* mem = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    io_uring_queue_exit(&ring);
    return undecided("mmap " + errno_name(errno));
  }
  madvise(mem, kPages * kPage, MADV_NOHUGEPAGE);  // one huge folio would be charged whole
  memset(mem, 1, kPages * kPage);
  iovec all{mem, kPages * kPage}, most{mem, (kPages - 4) * kPage};
  int r = io_uring_register_buffers(&ring, &all, 1);
  int r2 = r == -ENOMEM ? io_uring_register_buffers(&ring, &most, 1) : 0;
  io_uring_queue_exit(&ring);
  munmap(mem, kPages * kPage);
  if (r == 0) return yes_no(false);
  if (r == -ENOMEM && r2 == 0) return yes_no(true);
  return undecided("a 16-page buffer under a 16-page limit: " + res_name(r) + ", then 12 pages: " + res_name(r2));
}

// The defect linux commit a6bded921ed3 ('io_uring/filetable: clamp alloc_hint
// to the configured alloc range', 7.0, in stable) fixes, reproduced in a form
// uring-filealloc.alloc-never-below-range does not use: 8 slots registered
// with a file in slot 1, the alloc range [5, 8), slot 1 emptied by a fixed
// IORING_OP_CLOSE (io_fixed_fd_remove -> io_file_bitmap_clear moves the hint
// to 1), then one file allocated by IORING_OP_FILES_UPDATE at
// IORING_FILE_INDEX_ALLOC (io_files_update_with_index_alloc writes the slot
// back). Slot 1 (below the range): the defect (true); 5: clamped (false).
json filealloc_hint_escapes() {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int files[8] = {-1, fd, -1, -1, -1, -1, -1, -1};
  std::string why;
  int got = -1;
  if (fd < 0) {
    why = "open /dev/null " + errno_name(errno);
  } else if (int r = io_uring_register_files(&ring, files, 8); r < 0) {
    why = "register 8 files " + errno_name(-r);
  } else if (int r2 = io_uring_register_file_alloc_range(&ring, 5, 3); r2 < 0) {
    why = "alloc range " + errno_name(-r2);
  } else {
    io_uring_prep_close_direct(io_uring_get_sqe(&ring), 1);
    auto [closed, f1] = one_cqe(ring, 1000);
    int fds[1] = {fd};
    io_uring_prep_files_update(io_uring_get_sqe(&ring), fds, 1, static_cast<int>(IORING_FILE_INDEX_ALLOC));
    auto [res, f2] = closed == 0 ? one_cqe(ring, 1000) : std::pair<int, unsigned>{closed, 0};
    if (closed != 0) why = "a fixed close of slot 1 answered " + res_name(closed);
    else if (res != 1) why = "FILES_UPDATE at IORING_FILE_INDEX_ALLOC answered " + res_name(res);
    else got = fds[0];
  }
  io_uring_queue_exit(&ring);
  if (fd >= 0) close(fd);
  if (got == 1) return yes_no(true);
  if (got == 5) return yes_no(false);
  return undecided(why.empty() ? "the allocation took slot " + std::to_string(got) + " (1 or 5 expected)" : why);
}

// The defect linux commit f4d0668b38d8 ('io_uring/openclose: fix
// io_pipe_fixed() slot tracking for specific slots', 7.0, in stable) fixes,
// seen in a form uring-ops.pipe-direct-slot does not use: an IORING_OP_PIPE
// (6.16) into direct slot 0 of a sparse table of 2. Before the fix
// io_pipe_fixed() writes __io_fixed_fd_install()'s 0 for both ends, {0, 0}
// (true); fixed, the slots, {0, 1} (false).
json pipe_slot_fds_zero() {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  int fds[2] = {-1, -1};
  std::string why;
  if (int r = io_uring_register_files_sparse(&ring, 2); r < 0) {
    why = "sparse files " + errno_name(-r);
  } else {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_prep_rw(kOpPipe, s, 0, fds, 0, 0);
    s->file_index = 1;  // slot 0
    auto [res, f] = one_cqe(ring, 1000);
    if (res != 0) why = "IORING_OP_PIPE into slot 0 answered " + res_name(res);
  }
  io_uring_queue_exit(&ring);
  if (!why.empty()) return undecided(why);
  if (fds[0] == 0 && fds[1] == 0) return yes_no(true);
  if (fds[0] == 0 && fds[1] == 1) return yes_no(false);
  return undecided("a pipe into slots 0 and 1 wrote back {" + std::to_string(fds[0]) + ", " + std::to_string(fds[1]) + "}");
}

const std::vector<std::string> kFacts = {"io_uring.cancel.op",         "io_uring.timeout.multishot",
                                         "io_uring.timeout.etime_success", "io_uring.setup.NO_MMAP",
                                         "io_uring.setup.REGISTERED_FD_ONLY", "io_uring.setup.CQE_MIXED",
                                         "io_uring.setup.SQE_MIXED"};
constexpr unsigned kSetupCqeMixed = 1u << 18;  // IORING_SETUP_CQE_MIXED, newer than liburing 2.3's headers
constexpr unsigned kSetupSqeMixed = 1u << 19;  // IORING_SETUP_SQE_MIXED
constexpr const char* kRingCharged = "io_uring.ring_charged";
constexpr const char* kFileAllocHint = "io_uring.filealloc.hint_escapes_range";
constexpr const char* kPipeSlotZero = "io_uring.pipe.slot_fds_zero";

}  // namespace

void probe_uring_facts(Environment& env, const ProbeChildRunner& run, const ProbeAbsorber& absorb) {
  if (!env.flag("io_uring")) {
    for (const auto& n : kFacts) env.info[n + "_reason"] = "io_uring unavailable";
    env.info[std::string(kRingCharged) + "_reason"] = "io_uring unavailable";
    env.info[std::string(kFileAllocHint) + "_reason"] = "io_uring unavailable";
    env.info[std::string(kPipeSlotZero) + "_reason"] = "io_uring unavailable";
    return;
  }
  absorb(env, run([] {
        json j;
        j["io_uring.cancel.op"] = cancel_op();
        j["io_uring.timeout.multishot"] = timeout_flag(IORING_TIMEOUT_MULTISHOT, 1);
        j["io_uring.timeout.etime_success"] = timeout_flag(IORING_TIMEOUT_ETIME_SUCCESS, 0);
        j["io_uring.setup.NO_MMAP"] = setup_mode(IORING_SETUP_NO_MMAP);
        j["io_uring.setup.REGISTERED_FD_ONLY"] = setup_mode(IORING_SETUP_NO_MMAP | IORING_SETUP_REGISTERED_FD_ONLY);
        j["io_uring.setup.CQE_MIXED"] = setup_mode(kSetupCqeMixed);
        j["io_uring.setup.SQE_MIXED"] = setup_mode(kSetupSqeMixed);
        return j;
      }, 10000),
      kFacts);
  // Its own child: it gives up CAP_IPC_LOCK and lowers a hard limit for good.
  absorb(env, run([] { return json{{kRingCharged, ring_charge()}}; }, 5000), {kRingCharged});
  absorb(env, run([] { return json{{kFileAllocHint, filealloc_hint_escapes()}}; }, 5000), {kFileAllocHint});
  absorb(env, run([] { return json{{kPipeSlotZero, pipe_slot_fds_zero()}}; }, 5000), {kPipeSlotZero});
}

bool is_uring_probe_fact(const std::string& name) {
  if (name == kRingCharged || name == kFileAllocHint || name == kPipeSlotZero) return true;
  for (const auto& n : kFacts)
    if (n == name) return true;
  return false;
}

}  // namespace aioh
