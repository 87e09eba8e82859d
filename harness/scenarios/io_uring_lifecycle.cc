// Who owns a ring's requests and resources over its life. A task's pending
// requests are not cancelled when it exits (io_uring/cancel.c
// io_uring_cancel_generic() at exit cancels only requests tracked as in
// flight: those on another io_uring's fd), a forked child's and a thread's
// alike; but one that completes afterwards through task work finds its task
// gone and ends with -ECANCELED (io_should_terminate_tw()). execve(2)
// cancels all of the task's requests at once (io_uring_task_cancel()).
// IORING_SETUP_SINGLE_ISSUER binds the ring to one task: io_uring_register(2)
// from another is refused (-EEXIST), and a ring created R_DISABLED belongs to
// the task that enables it. RLIMIT_MEMLOCK is charged only to a creator
// without CAP_IPC_LOCK (io_uring_create(): ctx->user): with the capability a
// ring and a registered buffer need no locked-memory allowance; without it a
// registered buffer always does, the rings themselves only on some kernels
// (faults.memlock-ring-setup). kernel.io_uring_disabled and
// kernel.io_uring_group (6.6) decide who may create a ring at all. An
// SQPOLL ring's SQ thread belongs to the process that set it up and dies
// with it; the ring, held elsewhere, then answers -EOWNERDEAD.
#include <poll.h>
#include <sched.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "backends/io_uring_raw.h"
#include "convention.h"
#include "pattern.h"
#include "scenarios/common.h"
#include "scenarios/io_uring_scenario.h"
#include "system/settings.h"

namespace aioh {
namespace {

using namespace uring;

// who: child (a forked child) | thread | exec (a forked child that runs
// execve after queueing). That task queues a POLL_ADD
// (user_data 2) on the shared ring and exits; the ring's creator has its own
// poll pending (user_data 1). target: pipe (the other task polls a pipe) |
// ring (it polls the fd of a second io_uring, a request the kernel tracks
// as in flight, REQ_F_INFLIGHT). Observes the other task's submit, what
// completed within 20 ms of its exit (a tracked request is cancelled then),
// then, with both pipes written, the rest.
AIOH_SCENARIO(uring_exit_cancel,
              aioh::param::choice("who", "child", {"child", "thread", "exec"},
                                  "the task that exits (exec: a forked child that then runs execve)"),
              aioh::param::choice("target", "pipe", {"pipe", "ring"}, "what the exiting task's poll waits on")) {
  IoUringBackend& be = up(ctx, 8);
  Pipe mine, theirs;
  if (!mine.ok() || !theirs.ok()) ctx.broken("pipe");
  io_uring other{};
  if (io_uring_queue_init(4, &other, 0) < 0) ctx.broken("second ring");
  const int their_fd = ctx.str("target") == "ring" ? other.ring_fd : theirs.r();
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_poll_add(s, mine.r(), POLLIN);
  io_uring_sqe_set_data64(s, 1);
  submit_n(ctx, be, 1);
  long r[2] = {0, kErrnoSentinel};
  auto submit_theirs = [&] {
    io_uring_sqe* c = io_uring_get_sqe(&be.ring());
    if (!c) return;
    io_uring_prep_poll_add(c, their_fd, POLLIN);
    io_uring_sqe_set_data64(c, 2);
    errno = kErrnoSentinel;
    r[0] = io_uring_submit(&be.ring());
    r[1] = errno;
  };
  if (ctx.str("who") == "thread") {
    std::thread t(submit_theirs);
    t.join();
  } else {
    int rep[2];
    if (pipe(rep) != 0) ctx.broken("pipe");
    pid_t pid = fork();
    if (pid < 0) ctx.broken("fork");
    if (pid == 0) {
      submit_theirs();
      if (write(rep[1], r, sizeof r) != sizeof r) _exit(1);
      if (ctx.str("who") == "exec") {
        // execve cancels everything the task had (io_uring_task_cancel()).
        char* argv[] = {const_cast<char*>("true"), nullptr};
        execv("/bin/true", argv);
      }
      _exit(0);
    }
    close(rep[1]);
    ssize_t n = read(rep[0], r, sizeof r);
    close(rep[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (n != sizeof r) ctx.broken("child did not report");
    // The child's SQE went through the shared SQ ring but liburing's view in
    // this process did not move: catch up, or the next SQE would reuse it.
    io_uring& ring = be.ring();
    ring.sq.sqe_head = ring.sq.sqe_tail = *ring.sq.ktail;
  }
  ctx.observe(be.liburing_ret(r[0], static_cast<int>(r[1]), Phase::submit, "io_uring_submit by the other task"));
  std::vector<RawCqe> early;
  Outcome w = be.reap(1, ms(20), early);
  if (early.empty()) ctx.observe(w);
  observe_cqes(ctx, early);
  if (write(mine.w(), "x", 1) != 1 || write(theirs.w(), "x", 1) != 1) ctx.broken("pipe write");
  // The second ring's fd never becomes readable: its poll, if still there,
  // is not waited for.
  unsigned rest = 2u - static_cast<unsigned>(early.size());
  if (ctx.str("target") == "ring" && !find_tag(early, 2)) --rest;
  observe_cqes(ctx, reap(ctx, be, rest));
  io_uring_queue_exit(&other);
}

// IORING_SETUP_SINGLE_ISSUER and the task the ring belongs to. act:
//  register (another thread registers a file: -EEXIST; then the creator: 0) |
//  enable-from-thread (R_DISABLED ring, another thread enables it: 0; then
//    the creator submits a NOP: -EEXIST; the enabling thread submits: 1, and
//    the NOP completes)
AIOH_SCENARIO(uring_issuer_task,
              aioh::param::choice("act", "register", {"register", "enable-from-thread"}, "what the other thread does")) {
  const bool enable = ctx.str("act") == "enable-from-thread";
  IoUringBackend& be = up(ctx, 8, IORING_SETUP_SINGLE_ISSUER | (enable ? IORING_SETUP_R_DISABLED : 0));
  io_uring& ring = be.ring();
  auto in_thread = [](auto fn) {
    long ret = 0;
    int e = 0;
    std::thread t([&] {
      arm_errno();
      ret = fn();
      e = errno;
    });
    t.join();
    return std::pair<long, int>{ret, e};
  };
  if (!enable) {
    int fd = ctx.scratch_file("issuer", 4096, O_RDONLY | O_CLOEXEC);
    auto [ret, e] = in_thread([&] { return static_cast<long>(io_uring_register_files(&ring, &fd, 1)); });
    ctx.observe(be.liburing_ret(ret, e, Phase::setup, "io_uring_register_files from another thread"));
    arm_errno();
    int mine = io_uring_register_files(&ring, &fd, 1);
    ctx.observe(be.liburing_ret(mine, errno, Phase::setup, "io_uring_register_files"));
    close(fd);
    return;
  }
  // One thread enables the ring, then, after the creator tried, submits.
  std::mutex m;
  std::condition_variable cv;
  int step = 0;
  long en_ret = 0, sub_ret = 0;
  int en_err = 0, sub_err = 0;
  std::thread t([&] {
    arm_errno();
    en_ret = io_uring_register(static_cast<unsigned>(ring.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    en_err = errno;
    std::unique_lock<std::mutex> lk(m);
    step = 1;
    cv.notify_all();
    cv.wait(lk, [&] { return step == 2; });
    arm_errno();
    sub_ret = io_uring_submit(&ring);
    sub_err = errno;
  });
  {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return step == 1; });
  }
  ctx.observe(be.liburing_ret(en_ret, en_err, Phase::setup, "IORING_REGISTER_ENABLE_RINGS from another thread"));
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 1);
  ctx.observe(be.submit_queued());
  {
    std::lock_guard<std::mutex> lk(m);
    step = 2;
  }
  cv.notify_all();
  t.join();
  // The refused NOP was still queued; the enabling thread handed it over.
  ctx.observe(be.liburing_ret(sub_ret, sub_err, Phase::submit, "io_uring_submit by the enabling thread"));
  if (sub_ret == 1) observe_cqes(ctx, reap(ctx, be, 1));
}

// Sets the calling thread's CAP_IPC_LOCK (effective and permitted) off, or
// leaves it; lowers RLIMIT_MEMLOCK (soft and hard) to `limit`. The case runs
// in its own child, so nothing outlives it.
bool limit_memlock(rlim_t limit, bool drop_ipc_lock) {
  if (drop_ipc_lock && !drop_caps({CAP_IPC_LOCK})) return false;
  rlimit rl{limit, limit};
  return setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
}

// RLIMIT_MEMLOCK set to 16 KiB in this case's child; ipc_lock: whether
// CAP_IPC_LOCK is kept. Observes the ring's setup (8 entries: rings and SQEs
// of two or three pages, which fit whether charged or not) and the
// registration of one 64 KiB buffer (more than the limit).
AIOH_SCENARIO(uring_memlock, aioh::param::boolean("ipc_lock", true, "keep CAP_IPC_LOCK")) {
  const bool keep = ctx.flag("ipc_lock");
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) ctx.broken("capget");
  if (keep && !(d[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32))))
    ctx.skip("needs CAP_IPC_LOCK (probe: memlock_charged)");
  if (!limit_memlock(16384, !keep)) ctx.broken("cannot lower RLIMIT_MEMLOCK / drop CAP_IPC_LOCK");
  IoUringBackend& be = backend(ctx);
  io_uring_params p{};
  Outcome o = be.setup_raw(8, p);
  ctx.observe(o);
  if (o.is_error) return;
  AlignedBuffer buf(65536);
  iovec iov{buf.data(), 65536};
  arm_errno();
  int ret = io_uring_register_buffers(&be.ring(), &iov, 1);
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup, "io_uring_register_buffers"));
}

constexpr const char* kDisabled = "/proc/sys/kernel/io_uring_disabled";
constexpr const char* kGroup = "/proc/sys/kernel/io_uring_group";


// kernel.io_uring_disabled (io_uring/io_uring.c kernel_io_uring_disabled_table:
// proc_dointvec_minmax over 0..2) or kernel.io_uring_group (proc_dointvec, a
// gid, -1 for none) written with `value`: the write's answer, the sysctl read
// back (`reads_back`; empty: unchanged), then an io_uring_setup(2) of four
// entries in a forked child, with or without CAP_SYS_ADMIN. group_self:
// io_uring_group is this process's gid first. Both sysctls are held under the
// machine-wide settings lock and restored on every path; where they do not
// exist (before 6.6) the write meets ENOENT and the setup has no policy.
AIOH_SCENARIO(uring_sysctl,
              aioh::param::choice("sysctl", "io_uring_disabled", {"io_uring_disabled", "io_uring_group"},
                                  "which kernel.* sysctl is written"),
              aioh::param::text("value", "0", "what is written"),
              aioh::param::text("reads_back", "", "what the sysctl must read after (empty: unchanged)"),
              aioh::param::boolean("group_self", false, "kernel.io_uring_group set to this process's gid first"),
              aioh::param::boolean("sys_admin", true, "the setup keeps CAP_SYS_ADMIN")) {
  backend(ctx);
  const bool exists = access(kDisabled, F_OK) == 0;
  // Each guard is taken with the value the sysctl holds and set back to its
  // original (the value from before any run changed it), so the row meets
  // the machine's real setting and everything after is undone.
  system::SysctlChange disabled{system::kCaseLockWait}, group{system::kCaseLockWait};
  if (exists) {
    for (auto [guard, path] : {std::pair{&disabled, kDisabled}, std::pair{&group, kGroup}}) {
      if (std::string err = guard->set(path, system::read_sysctl(path)); !err.empty()) ctx.broken(err);
      if (std::string err = guard->set(path, guard->original()); !err.empty()) ctx.broken(err);
    }
    if (ctx.flag("group_self"))
      if (std::string err = group.set(kGroup, std::to_string(getegid())); !err.empty()) ctx.broken(err);
  }
  const char* path = ctx.str("sysctl") == "io_uring_group" ? kGroup : kDisabled;
  const std::string before = exists ? system::read_sysctl(path) : "";
  ctx.observe(scn::write_proc_file(path, Channel::ret, ctx.str("value") + "\n"));
  if (exists) {
    const std::string now = system::read_sysctl(path), want = ctx.str("reads_back").empty() ? before : ctx.str("reads_back");
    ctx.check(now == want, std::string(path) + " reads " + now + " after the write, expected " + want);
  }
  std::optional<int> answer = scn::value_in_child<int>([&] {
    if (!ctx.flag("sys_admin") && !drop_caps({CAP_SYS_ADMIN})) return -1;
    io_uring_params p{};
    return rawring::setup(4, &p) < 0 ? errno : 0;
  });
  int e = answer.value_or(-1);
  if (e < 0) ctx.broken("the setup child did not report (or could not drop CAP_SYS_ADMIN)");
  ctx.observe(e ? Outcome::error(e, Channel::errno_, Phase::setup) : Outcome::ok(0, Channel::ret, Phase::setup));
}

// vm.max_map_count used up by this (forked, per-case) process's own
// mappings: io_uring_setup(2) itself maps nothing, but liburing's
// io_uring_queue_init_params() mmaps the rings and the SQE array, which
// fails (mm/mmap.c do_mmap(): map_count > sysctl_max_map_count -> -ENOMEM);
// liburing closes the ring fd and returns the error. Then three mappings are
// given back and the same setup succeeds. Observes both setups and how many
// descriptors the failed one left. Nothing global changes.
AIOH_SCENARIO(uring_map_count, aioh::param::none) {
  IoUringBackend& be = backend(ctx);
  scn::MappingsUsedUp maps(ctx);
  const int fds = count_fds();
  io_uring_params p{};
  Outcome first = be.setup_raw(8, p);
  const int left = count_fds() - fds;
  maps.give_back(3);
  io_uring_params q{};
  Outcome again = be.setup_raw(8, q);
  maps.release();
  ctx.note(maps.note("held"));
  ctx.observe(first);
  ctx.observe(Outcome::ok(left, Channel::ret, Phase::setup));
  ctx.observe(again);
}

// IORING_SETUP_SQPOLL and the process that set the ring up. A creator
// process sharing this case child's descriptor table (clone(CLONE_FILES): an
// io_uring fd cannot travel by SCM_RIGHTS) sets up an SQPOLL ring (8
// entries, raw io_uring_setup), says which fd, and waits for a byte. This
// child enters with IORING_ENTER_SQ_WAKEUP while the creator lives, lets it
// exit and reaps it: a thread-group leader is reaped only once all its
// threads, the iou-sqp SQ thread among them (io_uring/sqpoll.c:
// create_io_thread()), have exited, so the SQ thread is gone. Then it enters
// again, with SQ_WAKEUP and with to_submit 1. Observes the three answers.
AIOH_SCENARIO(uring_sqpoll_owner_exit, aioh::param::none) {
  IoUringBackend& be = backend(ctx);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) ctx.broken("socketpair");
  // Like fork(), but the fd table is shared, so the ring fd stays open here
  // after the creator exits.
  const pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_FILES | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid < 0) ctx.broken("clone: " + errno_name(errno));
  if (pid == 0) {
    // Raw syscalls only until _exit: no glibc state is safe in this child.
    io_uring_params p{};
    p.flags = IORING_SETUP_SQPOLL;
    p.sq_thread_idle = 1000;
    long fd = syscall(__NR_io_uring_setup, 8, &p);
    int msg = fd < 0 ? -errno : static_cast<int>(fd);
    if (syscall(SYS_write, sv[1], &msg, sizeof msg) != static_cast<long>(sizeof msg)) syscall(SYS_exit_group, 1);
    char go;
    syscall(SYS_read, sv[1], &go, 1);
    syscall(SYS_exit_group, 0);
  }
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int fd = -1;
  pollfd rp{sv[0], POLLIN, 0};
  const ssize_t n = poll(&rp, 1, 5000) == 1 ? read(sv[0], &fd, sizeof fd) : -2;
  auto reap_creator = [&](bool wait) {
    pollfd pp{pidfd, POLLIN, 0};
    bool gone = pidfd >= 0 && poll(&pp, 1, wait ? 5000 : 0) == 1;
    if (!gone) kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return gone;
  };
  if (n != static_cast<ssize_t>(sizeof fd) || fd < 0) {
    close(sv[0]);
    close(sv[1]);
    reap_creator(false);
    ctx.broken(n == static_cast<ssize_t>(sizeof fd) ? "SQPOLL setup in the creator: " + errno_name(-fd)
                                                     : "no ring fd from the creator");
  }
  const unsigned rfd = static_cast<unsigned>(fd);
  arm_errno();
  int r = io_uring_enter(rfd, 0, 0, IORING_ENTER_SQ_WAKEUP, nullptr);
  ctx.observe(be.liburing_ret(r, errno, Phase::submit, "io_uring_enter SQ_WAKEUP, creator alive"));
  if (write(sv[0], "x", 1) != 1) ctx.note("the creator's socket: " + errno_name(errno));
  close(sv[0]);
  close(sv[1]);
  if (!reap_creator(true)) ctx.broken("the creator did not exit within 5 s (or no pidfd)");
  close(pidfd);
  arm_errno();
  r = io_uring_enter(rfd, 0, 0, IORING_ENTER_SQ_WAKEUP, nullptr);
  ctx.observe(be.liburing_ret(r, errno, Phase::submit, "io_uring_enter SQ_WAKEUP, creator gone"));
  arm_errno();
  r = io_uring_enter(rfd, 1, 0, 0, nullptr);
  ctx.observe(be.liburing_ret(r, errno, Phase::submit, "io_uring_enter to_submit 1, creator gone"));
  close(fd);
}

}  // namespace
}  // namespace aioh
