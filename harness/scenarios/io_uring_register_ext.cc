// io_uring_register(2) opcodes newer than the installed liburing headers and
// not reached by the other register rows: IORING_REGISTER_IOWQ_AFF and
// IORING_UNREGISTER_IOWQ_AFF (5.14), IORING_REGISTER_PBUF_STATUS (6.8) and
// IORING_REGISTER_CLOCK (6.12), each with its documented argument checks.
// The opcode numbers and argument layouts are the kernel's uapi
// (include/uapi/linux/io_uring.h), spelled here because liburing 2.3's
// headers stop before them. Every register call is phase setup; an opcode the
// running kernel does not know answers EINVAL (opcode >= IORING_REGISTER_LAST),
// which the rows key on a fact of the same kernel release.
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "convention.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr unsigned kRegisterPbufStatus = 26;  // 6.8
constexpr unsigned kRegisterClock = 29;       // 6.12

struct ClockRegister {  // struct io_uring_clock_register
  uint32_t clockid;
  uint32_t resv[3];
};
struct BufStatus {  // struct io_uring_buf_status
  uint32_t buf_group;
  uint32_t head;
  uint32_t resv[8];
};

// mode:
//  iowq-aff (a mask of CPU 0: 0; IORING_UNREGISTER_IOWQ_AFF: 0) |
//  iowq-aff-no-arg (NULL mask: EINVAL) | iowq-aff-unreadable (mask on a
//  PROT_NONE page: EFAULT) | iowq-aff-unregister-with-arg (EINVAL) |
//  clock-boottime (0; then a 1 ms IORING_OP_TIMEOUT still expires: -ETIME) |
//  clock-realtime (EINVAL) | clock-resv (EINVAL) | clock-nr-args (EINVAL) |
//  pbuf-status (a buffer ring of group 3 registered, observed; 2 buffers
//  added and none consumed: PBUF_STATUS 0, then the head, 0, at setup) | pbuf-status-missing (group 9:
//  ENOENT) | pbuf-status-legacy (a PROVIDE_BUFFERS group: EINVAL) |
//  pbuf-status-resv (reserved word set: EINVAL)
AIOH_SCENARIO(uring_register_ext,
              aioh::param::choice("mode", "iowq-aff",
                                  {"iowq-aff", "iowq-aff-no-arg", "iowq-aff-unreadable",
                                   "iowq-aff-unregister-with-arg", "clock-boottime", "clock-realtime",
                                   "clock-resv", "clock-nr-args", "pbuf-status", "pbuf-status-missing",
                                   "pbuf-status-legacy", "pbuf-status-resv"},
                                  "which registration and which argument")) {
  IoUringBackend& be = up(ctx, 8);
  const std::string mode = ctx.str("mode");
  const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
  auto reg = [&](unsigned op, void* arg, unsigned nr, const char* call) {
    arm_errno();
    int ret = io_uring_register(fd, op, arg, nr);
    ctx.observe(be.liburing_ret(ret, errno, Phase::setup, call));
    return ret;
  };

  if (mode.rfind("iowq-aff", 0) == 0) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    CPU_SET(0, &mask);
    if (mode == "iowq-aff") {
      if (reg(IORING_REGISTER_IOWQ_AFF, &mask, 8, "io_uring_register(IOWQ_AFF)") == 0)
        reg(IORING_UNREGISTER_IOWQ_AFF, nullptr, 0, "io_uring_register(UNREGISTER_IOWQ_AFF)");
    } else if (mode == "iowq-aff-no-arg") {
      reg(IORING_REGISTER_IOWQ_AFF, nullptr, 8, "io_uring_register(IOWQ_AFF)");
    } else if (mode == "iowq-aff-unreadable") {
      void* none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (none == MAP_FAILED) ctx.broken("mmap PROT_NONE failed");
      reg(IORING_REGISTER_IOWQ_AFF, none, 8, "io_uring_register(IOWQ_AFF)");
      munmap(none, 4096);
    } else {
      reg(IORING_UNREGISTER_IOWQ_AFF, &mask, 1, "io_uring_register(UNREGISTER_IOWQ_AFF)");
    }
    return;
  }

  if (mode.rfind("clock", 0) == 0) {
    ClockRegister c{};
    c.clockid = mode == "clock-realtime" ? CLOCK_REALTIME : CLOCK_BOOTTIME;
    if (mode == "clock-resv") c.resv[1] = 1;
    int ret = reg(kRegisterClock, &c, mode == "clock-nr-args" ? 1 : 0, "io_uring_register(CLOCK)");
    if (mode == "clock-boottime" && ret == 0) {
      // The ring's waits now count on CLOCK_BOOTTIME; a relative timeout
      // request must still expire as documented.
      __kernel_timespec ts = kms(1);
      submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_timeout(s, &ts, 0, 0); });
      observe_cqes(ctx, reap(ctx, be, 1));
    }
    return;
  }

  // PBUF_STATUS
  BufRing br;
  std::vector<uint8_t> legacy(4096);
  BufStatus st{};
  st.buf_group = 3;
  if (mode == "pbuf-status" || mode == "pbuf-status-resv") {
    arm_errno();
    int r = br.reg(be.ring(), 8, 3);
    ctx.observe(be.liburing_ret(r, errno, Phase::setup, "io_uring_register_buf_ring"));
    if (r != 0) return;  // before 5.19: no buffer rings
    br.add(2, 0, 512);
    if (mode == "pbuf-status-resv") st.resv[7] = 1;
  } else if (mode == "pbuf-status-missing") {
    st.buf_group = 9;
  } else {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_provide_buffers(s, legacy.data(), 512, 2, 3, 0); });
    RawCqe c = reap(ctx, be, 1)[0];
    if (c.res != 0) ctx.broken("PROVIDE_BUFFERS gave " + std::to_string(c.res));
  }
  st.head = 0xdead;
  int ret = reg(kRegisterPbufStatus, &st, 1, "io_uring_register(PBUF_STATUS)");
  if (ret == 0) ctx.observe(Outcome::ok(st.head, Channel::ret, Phase::setup));
}

}  // namespace
}  // namespace aioh
