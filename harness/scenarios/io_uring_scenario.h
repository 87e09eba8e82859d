// Small helpers shared by the io_uring-only scenario families: reach the
// concrete backend, bring the ring up (a failed setup outside the call under
// test is `broken`, never a verdict), queue raw SQEs, reap CQEs with a bound,
// and observe them in a stable order (by user_data) unless a scenario is
// about order itself; a registered buffer ring (IORING_REGISTER_PBUF_RING).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backends/io_uring_backend.h"
#include "convention.h"
#include "scenario.h"
#include "scenarios/common.h"
#include "timespec.h"

namespace aioh::uring {

// Opcodes newer than the build machine's liburing headers
// (include/uapi/linux/io_uring.h enum io_uring_op): support is the probe's
// and the rows' to decide, never these numbers'.
inline constexpr uint8_t kOpWaitid = 50;       // IORING_OP_WAITID
inline constexpr uint8_t kOpFutexWait = 51;    // IORING_OP_FUTEX_WAIT
inline constexpr uint8_t kOpFutexWake = 52;    // IORING_OP_FUTEX_WAKE
inline constexpr uint8_t kOpFutexWaitv = 53;   // IORING_OP_FUTEX_WAITV
inline constexpr uint8_t kOpBind = 56;         // IORING_OP_BIND
inline constexpr uint8_t kOpListen = 57;       // IORING_OP_LISTEN
inline constexpr uint8_t kOpRecvZc = 58;       // IORING_OP_RECV_ZC
inline constexpr uint8_t kOpEpollWait = 59;    // IORING_OP_EPOLL_WAIT
inline constexpr uint8_t kOpReadvFixed = 60;   // IORING_OP_READV_FIXED
inline constexpr uint8_t kOpWritevFixed = 61;  // IORING_OP_WRITEV_FIXED
inline constexpr uint8_t kOpPipe = 62;         // IORING_OP_PIPE

inline IoUringBackend& backend(CaseContext& ctx) {
  auto* b = dynamic_cast<IoUringBackend*>(&ctx.backend());
  if (!b) ctx.broken("io_uring scenario run on backend " +
                     std::string(ctx.backend().name()));
  return *b;
}

// One liburing call under its convention (-errno, errno untouched): its
// answer observed in `phase` and returned, for the steps that depend on it.
template <class F>
long lib_call(CaseContext& ctx, std::string_view call, F f, Phase phase = Phase::setup) {
  arm_errno();
  long r = f();
  ctx.observe(backend(ctx).liburing_ret(r, errno, phase, call));
  return r;
}

// io_uring_register(2) on ring fd `fd` through liburing's raw wrapper,
// observed as one library call.
inline int register_call(CaseContext& ctx, int fd, unsigned op, void* arg, unsigned nr, std::string_view call) {
  return static_cast<int>(
      lib_call(ctx, call, [&] { return io_uring_register(static_cast<unsigned>(fd), op, arg, nr); }));
}

inline timespec ms(long n) { return ms_to_timespec(n); }
inline __kernel_timespec kms(long n) { return ms_to_timespec<__kernel_timespec>(n); }

// Takes `caps` out of the calling thread's effective and permitted sets (for
// good: a case runs in its own child). false when capget/capset refuse.
inline bool drop_caps(std::initializer_list<int> caps) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  for (int cap : caps) {
    d[cap / 32].effective &= ~(1u << (cap % 32));
    d[cap / 32].permitted &= ~(1u << (cap % 32));
  }
  return syscall(SYS_capset, &h, d) == 0;
}

// Setup outside the call under test.
inline IoUringBackend& up(CaseContext& ctx, unsigned entries = 8,
                          unsigned flags = 0) {
  IoUringBackend& be = backend(ctx);
  io_uring_params p{};
  p.flags = flags;
  Outcome o = be.setup_raw(entries, p);
  if (o.is_error) ctx.broken("io_uring setup failed: " + o.str());
  return be;
}

inline io_uring_sqe* sqe(CaseContext& ctx, IoUringBackend& be) {
  io_uring_sqe* s = be.get_sqe();
  if (!s) ctx.broken("no free SQE");
  return s;
}

// Submit queued SQEs when the submit itself is not under test.
inline void submit_n(CaseContext& ctx, IoUringBackend& be, unsigned n) {
  Outcome o = be.submit_queued();
  if (o.is_error || o.value != n)
    ctx.broken("io_uring_submit gave " + o.str() + ", wanted " +
               std::to_string(n));
}

// One SQE prepared by `prep`, tagged `tag`, submitted on its own (the
// submit is not under test).
template <class Prep>
void submit_one(CaseContext& ctx, IoUringBackend& be, uint64_t tag, Prep prep) {
  io_uring_sqe* s = sqe(ctx, be);
  prep(s);
  io_uring_sqe_set_data64(s, tag);
  submit_n(ctx, be, 1);
}

// Reap exactly `n` CQEs within `timeout_ms`; fewer is broken (a hang of the
// thing under test shows up as ETIME in scenarios that observe the wait).
inline std::vector<RawCqe> reap(CaseContext& ctx, IoUringBackend& be,
                                unsigned n, long timeout_ms = 3000) {
  std::vector<RawCqe> out;
  Outcome o = be.reap(n, ms(timeout_ms), out, n);
  if (o.is_error || out.size() != n)
    ctx.broken("reaping " + std::to_string(n) + " CQEs gave " + o.str() +
               " with " + std::to_string(out.size()));
  return out;
}

// CQEs ready within `ms_` (0 when none arrives): how a scenario shows that
// a request stays queued until something it waits for happens.
inline unsigned ready_within(IoUringBackend& be, long ms_) {
  io_uring_cqe* c = nullptr;
  __kernel_timespec t = kms(ms_);
  if (io_uring_wait_cqe_timeout(&be.ring(), &c, &t) != 0) return 0;
  return io_uring_cq_ready(&be.ring());
}

inline void sort_by_tag(std::vector<RawCqe>& v) {
  std::stable_sort(v.begin(), v.end(), [](const RawCqe& a, const RawCqe& b) {
    return a.user_data < b.user_data;
  });
}

// Submits `prep` as tag 1 and observes how many CQEs are ready within 100 ms
// (0: the request is pending), then cancels it by user_data (tag 2) and observes
// both results in tag order: the request's, then the cancel's.
template <class Prep>
void observe_pending_then_cancel(CaseContext& ctx, IoUringBackend& be, Prep prep) {
  submit_one(ctx, be, 1, prep);
  ctx.observe(Outcome::ok(ready_within(be, 100), Channel::ret, Phase::completion));
  submit_one(ctx, be, 2, [](io_uring_sqe* s) { io_uring_prep_cancel64(s, 1, 0); });
  auto v = reap(ctx, be, 2);
  sort_by_tag(v);
  for (const RawCqe& c : v) ctx.observe(IoUringBackend::res_outcome(c.res));
}

// A CQE whose res is a new descriptor (SOCKET, ACCEPT, OPENAT): 1, the fd
// closed; else its errno.
inline void observe_fd_res(CaseContext& ctx, int res) {
  if (res >= 0) close(res);
  ctx.observe(res >= 0 ? Outcome::ok(1, Channel::ret, Phase::completion) : IoUringBackend::res_outcome(res));
}

inline void observe_cqes(CaseContext& ctx, std::vector<RawCqe> v,
                         bool by_tag = true) {
  if (by_tag) sort_by_tag(v);
  for (const RawCqe& c : v) ctx.observe(IoUringBackend::res_outcome(c.res));
}

inline const RawCqe* find_tag(const std::vector<RawCqe>& v, uint64_t tag) {
  for (const RawCqe& c : v)
    if (c.user_data == tag) return &c;
  return nullptr;
}

// A pipe closed on every path.
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (pipe2(fd, O_CLOEXEC) != 0) fd[0] = fd[1] = -1;
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  bool ok() const { return fd[0] >= 0; }
  int r() const { return fd[0]; }
  int w() const { return fd[1]; }
};

// Threads of this process whose name starts with `prefix` ("iou-sqp-",
// "iou-wrk-": io_uring's own threads name themselves when they first run).
inline int count_threads_named(const std::string& prefix) {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      std::getline(comm, name);
      n += name.rfind(prefix, 0) == 0;
    }
    closedir(d);
  }
  return n;
}

// Open descriptors among the first 4096 numbers, by fcntl(F_GETFD): no
// allocation and no mapping, so it also counts truly with the map count used
// up. A descriptor a failed call left behind takes the lowest free number,
// far below that bound in a case's child.
inline int count_fds() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (fcntl(fd, F_GETFD) != -1) ++n;
  return n;
}

using scn::closed_fd;

// A buffer ring of `entries` for group `bgid` in page-aligned memory (or,
// with misalign, 64 bytes past a page boundary). Unregistered and unmapped
// on every path.
struct BufRing {
  io_uring* ring = nullptr;
  void* mem = MAP_FAILED;
  size_t len = 0;
  io_uring_buf_ring* br = nullptr;
  unsigned entries = 0;
  int bgid = -1;
  bool registered = false;
  std::vector<uint8_t> pool;

  int reg(io_uring& r, unsigned n, int group, bool misalign = false) {
    ring = &r;
    entries = n;
    bgid = group;
    len = 2 * static_cast<size_t>(sysconf(_SC_PAGESIZE));
    mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -ENOMEM;
    br = reinterpret_cast<io_uring_buf_ring*>(static_cast<char*>(mem) + (misalign ? 64 : 0));
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(br);
    reg.ring_entries = n;
    reg.bgid = static_cast<__u16>(group);
    int ret = io_uring_register_buf_ring(&r, &reg, 0);
    registered = ret == 0;
    return ret;
  }
  // Adds `count` buffers of buf_len with ids first_bid.. and publishes them
  // (buffer i at pool.data() + i * buf_len).
  void add(unsigned count, unsigned first_bid, unsigned buf_len) {
    pool.assign(static_cast<size_t>(count) * buf_len, 0);
    for (unsigned i = 0; i < count; ++i)
      io_uring_buf_ring_add(br, pool.data() + i * buf_len, buf_len, static_cast<unsigned short>(first_bid + i),
                            io_uring_buf_ring_mask(entries), static_cast<int>(i));
    io_uring_buf_ring_advance(br, static_cast<int>(count));
  }
  ~BufRing() {
    if (registered) io_uring_unregister_buf_ring(ring, bgid);
    if (mem != MAP_FAILED) munmap(mem, len);
  }
};

// IORING_SETUP_* by the name rows use.
inline const std::map<std::string, unsigned>& setup_flag_map() {
  static const std::map<std::string, unsigned> names = {
      {"IOPOLL", IORING_SETUP_IOPOLL},
      {"SQPOLL", IORING_SETUP_SQPOLL},
      {"SQ_AFF", IORING_SETUP_SQ_AFF},
      {"CQSIZE", IORING_SETUP_CQSIZE},
      {"CLAMP", IORING_SETUP_CLAMP},
      {"ATTACH_WQ", IORING_SETUP_ATTACH_WQ},
      {"R_DISABLED", IORING_SETUP_R_DISABLED},
      {"SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL},
      {"COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN},
      {"TASKRUN_FLAG", IORING_SETUP_TASKRUN_FLAG},
      {"SQE128", IORING_SETUP_SQE128},
      {"CQE32", IORING_SETUP_CQE32},
      {"SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER},
      {"DEFER_TASKRUN", IORING_SETUP_DEFER_TASKRUN},
  };
  return names;
}

// The choices of a setup-flags parameter ("SQPOLL|SQ_AFF").
inline std::vector<std::string> setup_flag_names() {
  std::vector<std::string> v;
  for (auto& [name, _] : setup_flag_map()) v.push_back(name);
  return v;
}

// "SQPOLL|SQ_AFF" -> IORING_SETUP_* bits; unknown names are broken.
inline unsigned setup_flags(CaseContext& ctx, const std::string& list) {
  const auto& names = setup_flag_map();
  unsigned bits = 0;
  for (const std::string& n : split_fields(list, '|')) {
    auto it = names.find(n);
    if (it == names.end()) ctx.broken("unknown setup flag name " + n);
    bits |= it->second;
  }
  return bits;
}

}  // namespace aioh::uring

// The shape most io_uring families share, declared once: a scenario over a
// ring of `entries` whose rows pick their case by one choice parameter `key`
// (its default, help and then its choices). The body sees the case's
// context `ctx`, the set-up backend `be` and the row's choice as `key`:
//   AIOH_URING_CHOICE_SCENARIO(uring_msg, 8, mode, "sendmsg-recvmsg", "the message request and its case",
//                              "sendmsg-recvmsg", "recvmsg-trunc", "scm-rights") { ... be ... mode ... }
#define AIOH_URING_CHOICE_SCENARIO(name, entries, key, def, help, ...)                                            \
  static void aioh_uring_##name(::aioh::CaseContext& ctx, ::aioh::IoUringBackend& be, const std::string& key);   \
  AIOH_SCENARIO(name, ::aioh::param::choice(#key, def, {__VA_ARGS__}, help)) {                                      \
    aioh_uring_##name(ctx, ::aioh::uring::up(ctx, entries), ctx.str(#key));                                         \
  }                                                                                                                \
  static void aioh_uring_##name([[maybe_unused]] ::aioh::CaseContext& ctx, [[maybe_unused]] ::aioh::IoUringBackend& be, \
                                [[maybe_unused]] const std::string& key)
