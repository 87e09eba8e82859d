// io_uring_register(2) opcodes newer than the installed liburing headers and
// not reached by the other register rows: IORING_REGISTER_IOWQ_AFF and
// IORING_UNREGISTER_IOWQ_AFF (5.14), IORING_REGISTER_PBUF_STATUS (6.8),
// IORING_REGISTER_NAPI / UNREGISTER_NAPI (6.9; the opcode field of 6.13),
// IORING_REGISTER_CLOCK and CLONE_BUFFERS (6.12), SEND_MSG_RING and
// MEM_REGION and RESIZE_RINGS (6.13) and QUERY (6.18), each with its documented argument
// checks; a malformed argument is shown next to the same call well formed
// where one exists, so its EINVAL is the field's.
// The opcode numbers and argument layouts are the kernel's uapi
// (include/uapi/linux/io_uring.h), spelled here because liburing 2.3's
// headers stop before them. Every register call is phase setup; an opcode the
// running kernel does not know answers EINVAL (opcode >= IORING_REGISTER_LAST),
// which the rows key on a fact of the same kernel release.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <cstring>
#include <functional>

#include "backends/io_uring_raw.h"
#include "convention.h"
#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

using namespace uring;

constexpr unsigned kRegisterPbufStatus = 26;  // 6.8
constexpr unsigned kRegisterNapi = 27;        // 6.9
constexpr unsigned kUnregisterNapi = 28;      // 6.9
constexpr unsigned kRegisterClock = 29;       // 6.12
constexpr unsigned kRegisterCloneBuffers = 30;  // 6.12
constexpr unsigned kRegisterSendMsgRing = 31;   // 6.13
constexpr unsigned kRegisterResizeRings = 33;   // 6.13, argument a struct io_uring_params
constexpr unsigned kRegisterMemRegion = 34;     // 6.13
constexpr unsigned kRegisterQuery = 35;         // 6.18
constexpr unsigned kCloneSrcRegistered = 1u << 0;  // IORING_REGISTER_SRC_REGISTERED
constexpr unsigned kCloneDstReplace = 1u << 1;     // IORING_REGISTER_DST_REPLACE (6.13)
constexpr unsigned kMemRegionTypeUser = 1;         // IORING_MEM_REGION_TYPE_USER
constexpr unsigned kMemRegionRegWaitArg = 1;       // IORING_MEM_REGION_REG_WAIT_ARG
constexpr unsigned kRegWaitTs = 1;                 // IORING_REG_WAIT_TS
constexpr unsigned kEnterExtArgReg = 1u << 6;      // IORING_ENTER_EXT_ARG_REG (6.13)
constexpr unsigned kQueryOpcodes = 0;              // IO_URING_QUERY_OPCODES
constexpr unsigned kSetupCqeMixed = 1u << 18;      // IORING_SETUP_CQE_MIXED (6.18)

struct ClockRegister {  // struct io_uring_clock_register
  uint32_t clockid;
  uint32_t resv[3];
};
struct BufStatus {  // struct io_uring_buf_status
  uint32_t buf_group;
  uint32_t head;
  uint32_t resv[8];
};
struct Napi {  // struct io_uring_napi (6.13 layout; 6.9 had pad[3] and a u64 resv here)
  uint32_t busy_poll_to;
  uint8_t prefer_busy_poll;
  uint8_t opcode;  // IO_URING_NAPI_REGISTER_OP 0, STATIC_ADD_ID 1, STATIC_DEL_ID 2
  uint8_t pad[2];
  uint32_t op_param;  // for REGISTER_OP: IO_URING_NAPI_TRACKING_DYNAMIC 0 / STATIC 1
  uint32_t resv;
};
// A NAPI id past MIN_NAPI_ID (NR_CPUS + 1; 8192 CPUs in Debian's kernels):
// static tracking takes any such id, no device behind it needed.
constexpr uint32_t kNapiId = 1u << 20;
struct CloneBuffers {  // struct io_uring_clone_buffers (src_off/dst_off/nr: 6.13, pad before)
  uint32_t src_fd;
  uint32_t flags;
  uint32_t src_off;
  uint32_t dst_off;
  uint32_t nr;
  uint32_t pad[3];
};
struct RegionDesc {  // struct io_uring_region_desc
  uint64_t user_addr;
  uint64_t size;
  uint32_t flags;
  uint32_t id;
  uint64_t mmap_offset;
  uint64_t resv[4];
};
struct MemRegionReg {  // struct io_uring_mem_region_reg
  uint64_t region_uptr;
  uint64_t flags;
  uint64_t resv[2];
};
struct RegWait {  // struct io_uring_reg_wait (6.13)
  __kernel_timespec ts;
  uint32_t min_wait_usec;
  uint32_t flags;  // IORING_REG_WAIT_TS
  uint64_t sigmask;
  uint32_t sigmask_sz;
  uint32_t pad[3];
  uint64_t pad2[2];
};
struct QueryHdr {  // struct io_uring_query_hdr (linux/io_uring/query.h)
  uint64_t next_entry;
  uint64_t query_data;
  uint32_t query_op;
  uint32_t size;
  int32_t result;
  uint32_t resv[3];
};
struct QueryOpcodes {  // struct io_uring_query_opcode
  uint32_t nr_request_opcodes;
  uint32_t nr_register_opcodes;
  uint64_t feature_flags;
  uint64_t ring_setup_flags;
  uint64_t enter_flags;
  uint64_t sqe_flags;
  uint32_t nr_query_opcodes;
  uint32_t pad;
};

// A second ring of four entries, torn down on every path (setup outside the
// call under test: a failure is broken).
struct OtherRing {
  io_uring ring{};
  bool up = false;
  OtherRing(CaseContext& ctx, unsigned flags = 0) {
    if (int r = io_uring_queue_init(4, &ring, flags); r < 0) ctx.broken("second ring: io_uring_queue_init " + std::to_string(r));
    up = true;
  }
  ~OtherRing() {
    if (up) io_uring_queue_exit(&ring);
  }
};

// One io_uring_register call on `fd` (a ring, or -1 for the blind opcodes),
// observed at setup under `call`.
using RegFn = std::function<int(int fd, unsigned op, void* arg, unsigned nr, const char* call)>;

inline Outcome value(int64_t v) { return Outcome::ok(v, Channel::ret, Phase::setup); }

// IORING_(UN)REGISTER_NAPI (io_uring/napi.c io_register_napi(),
// io_unregister_napi()): registration alone, no NIC needed.
void napi_modes(CaseContext& ctx, IoUringBackend& be, const std::string& mode, const RegFn& reg) {
  const int fd = be.ring().ring_fd;
  Napi n{};
  if (mode == "napi-register") {
    n.busy_poll_to = 50;
    n.prefer_busy_poll = 1;
    if (reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI)") != 0) return;
    // The kernel hands back the settings it replaced: none yet.
    ctx.observe(value(n.busy_poll_to));
    ctx.observe(value(n.prefer_busy_poll));
    Napi old{};
    if (reg(fd, kUnregisterNapi, &old, 1, "io_uring_register(UNREGISTER_NAPI)") != 0) return;
    ctx.observe(value(old.busy_poll_to));
    ctx.observe(value(old.prefer_busy_poll));
  } else if (mode == "napi-iopoll") {
    OtherRing polled(ctx, IORING_SETUP_IOPOLL);
    reg(polled.ring.ring_fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI) on an IOPOLL ring");
    n = Napi{};
    reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI)");
  } else if (mode == "napi-pad") {
    n.pad[0] = 1;
    reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI)");
    n = Napi{};
    reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI)");
  } else if (mode == "napi-unknown-opcode") {
    // Static tracking first, so the known opcodes 1 and 2 succeed beside 3.
    n.op_param = 1;  // IO_URING_NAPI_TRACKING_STATIC
    if (reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI) static tracking") != 0) return;
    Napi op{};
    op.opcode = 3;
    reg(fd, kRegisterNapi, &op, 1, "io_uring_register(NAPI) opcode 3");
    op = Napi{};
    op.opcode = 1;  // IO_URING_NAPI_STATIC_ADD_ID
    op.op_param = kNapiId;
    reg(fd, kRegisterNapi, &op, 1, "io_uring_register(NAPI) STATIC_ADD_ID");
    op = Napi{};
    op.opcode = 2;  // IO_URING_NAPI_STATIC_DEL_ID
    op.op_param = kNapiId;
    reg(fd, kRegisterNapi, &op, 1, "io_uring_register(NAPI) STATIC_DEL_ID");
  } else if (mode == "napi-static-tracking") {
    n.op_param = 1;  // IO_URING_NAPI_TRACKING_STATIC
    if (reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI) static tracking") != 0) return;
    Napi again{};
    if (reg(fd, kRegisterNapi, &again, 1, "io_uring_register(NAPI)") != 0) return;
    ctx.observe(value(again.op_param));  // the tracking mode it replaced
  } else if (mode == "napi-add-id-dynamic") {
    if (reg(fd, kRegisterNapi, &n, 1, "io_uring_register(NAPI)") != 0) return;
    // Each call gets a fresh argument: the kernel writes the current
    // settings back into it before looking at the opcode.
    auto add_id = [&] {
      Napi add{};
      add.opcode = 1;  // IO_URING_NAPI_STATIC_ADD_ID
      add.op_param = kNapiId;
      return reg(fd, kRegisterNapi, &add, 1, "io_uring_register(NAPI) STATIC_ADD_ID");
    };
    add_id();
    // The same id once tracking is static: taken, then a duplicate.
    Napi st{};
    st.op_param = 1;  // IO_URING_NAPI_TRACKING_STATIC
    if (reg(fd, kRegisterNapi, &st, 1, "io_uring_register(NAPI) static tracking") != 0) return;
    add_id();
    add_id();
  } else {  // napi-unregister-nr-args
    reg(fd, kUnregisterNapi, nullptr, 0, "io_uring_register(UNREGISTER_NAPI) nr_args 0");
    reg(fd, kUnregisterNapi, nullptr, 1, "io_uring_register(UNREGISTER_NAPI)");
  }
}

// IORING_REGISTER_CLONE_BUFFERS (io_uring/rsrc.c io_register_clone_buffers(),
// io_clone_buffers()): the case's ring (dst) takes the buffer table of a
// second ring (src) holding one 4 KiB buffer.
void clone_modes(CaseContext& ctx, IoUringBackend& be, const std::string& mode, const RegFn& reg) {
  const int fd = be.ring().ring_fd;
  OtherRing src(ctx);
  AlignedBuffer buf(4096), mine(4096);
  iovec iov{buf.data(), 4096}, own{mine.data(), 4096};
  if (mode != "clone-src-empty" && io_uring_register_buffers(&src.ring, &iov, 1) != 0)
    ctx.broken("registering the source ring's buffer");
  if ((mode == "clone-busy" || mode == "clone-replace") && io_uring_register_buffers(&be.ring(), &own, 1) != 0)
    ctx.broken("registering the case ring's own buffer");
  int file = ctx.scratch_file("clone", 8192, O_RDONLY | O_CLOEXEC);
  // READ_FIXED of 4 KiB at `off` into buffer 0 of the case's ring, which
  // must be the source's memory: the data lands in `buf`.
  auto read_fixed = [&](unsigned off) {
    memset(buf.data(), 0, 4096);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_read_fixed(s, file, buf.data(), 4096, off, 0); });
    RawCqe c = reap(ctx, be, 1)[0];
    ctx.observe(IoUringBackend::res_outcome(c.res));
    if (c.res > 0) ctx.check(verify_buffer(buf.data(), c.res, kFileSeed, off).empty(), "cloned-buffer read data mismatch");
  };
  CloneBuffers cb{};
  cb.src_fd = static_cast<uint32_t>(src.ring.ring_fd);
  if (mode == "clone-read-fixed") {
    if (reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS)") != 0) return;
    read_fixed(0);
    // The clone holds the pages itself: the source letting go changes nothing.
    arm_errno();
    int r = io_uring_unregister_buffers(&src.ring);
    ctx.observe(be.liburing_ret(r, errno, Phase::setup, "io_uring_unregister_buffers(source)"));
    read_fixed(4096);
  } else if (mode == "clone-busy") {
    reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS)");
  } else if (mode == "clone-replace") {
    cb.flags = kCloneDstReplace;
    if (reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS) DST_REPLACE") != 0) return;
    read_fixed(0);
  } else if (mode == "clone-unknown-flag" || mode == "clone-nr-over") {
    CloneBuffers bad = cb;
    if (mode == "clone-unknown-flag") bad.flags = 1u << 2;
    else bad.nr = 2;
    reg(fd, kRegisterCloneBuffers, &bad, 1, "io_uring_register(CLONE_BUFFERS)");
    if (mode == "clone-nr-over") cb.nr = 1;
    reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS)");
  } else if (mode == "clone-src-registered" || mode == "clone-src-registered-unused") {
    // The source named by its registered-ring index (IORING_REGISTER_RING_FDS)
    // instead of a descriptor; the index past it holds no ring.
    int index = io_uring_register_ring_fd(&src.ring);
    if (index != 1) ctx.broken("io_uring_register_ring_fd gave " + std::to_string(index));
    cb.flags = kCloneSrcRegistered;
    cb.src_fd = src.ring.enter_ring_fd + (mode == "clone-src-registered" ? 0 : 1);
    if (reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS) SRC_REGISTERED") != 0) return;
    read_fixed(0);
  } else if (mode == "clone-src-empty") {
    reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS)");
  } else {  // clone-src-not-ring
    cb.src_fd = static_cast<uint32_t>(file);
    reg(fd, kRegisterCloneBuffers, &cb, 1, "io_uring_register(CLONE_BUFFERS)");
  }
  close(file);
}

// IORING_REGISTER_SEND_MSG_RING (io_uring/register.c
// io_uring_register_send_msg_ring()): an IORING_OP_MSG_RING SQE run with no
// source ring (fd -1) posts its CQE in the target ring.
void send_msg_ring_modes(CaseContext& ctx, IoUringBackend& be, const std::string& mode, const RegFn& reg) {
  OtherRing target(ctx);
  io_uring_sqe good{};
  good.opcode = IORING_OP_MSG_RING;
  good.fd = target.ring.ring_fd;
  good.addr = IORING_MSG_DATA;
  good.len = 77;     // the target CQE's res
  good.off = 4242;   // its user_data
  io_uring_sqe bad = good;
  if (mode == "send-msg-ring-flags") bad.flags = IOSQE_ASYNC;
  if (mode == "send-msg-ring-opcode") bad.opcode = IORING_OP_NOP;
  if (mode != "send-msg-ring") {
    // The refused form, then the well-formed one (whose CQE send-msg-ring observes).
    if (mode == "send-msg-ring-on-ring")
      reg(be.ring().ring_fd, kRegisterSendMsgRing, &good, 1, "io_uring_register(ring, SEND_MSG_RING)");
    else
      reg(-1, kRegisterSendMsgRing, &bad, 1, "io_uring_register(-1, SEND_MSG_RING)");
    reg(-1, kRegisterSendMsgRing, &good, 1, "io_uring_register(-1, SEND_MSG_RING)");
    return;
  }
  if (reg(-1, kRegisterSendMsgRing, &good, 1, "io_uring_register(-1, SEND_MSG_RING)") != 0) return;
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts = kms(1000);
  if (io_uring_wait_cqe_timeout(&target.ring, &cqe, &ts) != 0) {
    ctx.observe(Outcome::ok(0, Channel::ret, Phase::completion));  // no CQE in the target ring
    return;
  }
  ctx.observe(Outcome::ok(static_cast<int64_t>(cqe->user_data), Channel::ret, Phase::completion));
  ctx.observe(IoUringBackend::res_outcome(cqe->res));
  io_uring_cqe_seen(&target.ring, cqe);
}

// IORING_REGISTER_MEM_REGION (io_uring/register.c io_register_mem_region(),
// io_uring/memmap.c io_create_region()): one page of this process's memory.
// IORING_ENTER_EXT_ARG_REG (6.13): the wait arguments of io_uring_enter(2)
// read from a registered region (IORING_MEM_REGION_REG_WAIT_ARG) at the byte
// offset passed as `arg`, instead of copied from the caller
// (io_uring/io_uring.c io_get_ext_arg(), io_get_ext_arg_reg()). On an
// R_DISABLED ring: the region registered, the ring enabled, then four waits
// for one CQE with nothing in flight: the struct at offset 0 with a 100 ms
// IORING_REG_WAIT_TS timeout (its answer, timed), then offset 4 (not
// long-aligned), offset 4096 (past the region) and argsz 63, each answer.
void wait_reg_enter(CaseContext& ctx, IoUringBackend& be, RegionDesc& rd, MemRegionReg& mr, const RegFn& reg) {
  OtherRing ring(ctx, IORING_SETUP_R_DISABLED);
  const int fd = ring.ring.ring_fd;
  mr.flags = kMemRegionRegWaitArg;
  if (reg(fd, kRegisterMemRegion, &mr, 1, "io_uring_register(MEM_REGION) WAIT_ARG") != 0) return;
  if (reg(fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0, "io_uring_register(ENABLE_RINGS)") != 0) return;
  auto* w = reinterpret_cast<RegWait*>(static_cast<uintptr_t>(rd.user_addr));
  *w = RegWait{};
  w->ts.tv_nsec = 100 * 1000000LL;
  w->flags = kRegWaitTs;
  w->sigmask_sz = _NSIG / 8;
  const unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | kEnterExtArgReg;
  // The offset travels in io_uring_enter2's sigset pointer argument.
  auto enter = [&](uintptr_t offset, size_t argsz) {
    arm_errno();
    int r = io_uring_enter2(static_cast<unsigned>(fd), 0, 1, flags, reinterpret_cast<sigset_t*>(offset), argsz);
    return be.liburing_ret(r, errno, Phase::wait, "io_uring_enter2(EXT_ARG_REG)");
  };
  timing::Stopwatch sw;
  Outcome o = enter(0, sizeof(RegWait));
  timing::observe_wait_between(ctx, o, sw.ms(), 100, 100, "a wait with the region's 100 ms timeout");
  ctx.observe(enter(4, sizeof(RegWait)));
  ctx.observe(enter(4096, sizeof(RegWait)));
  ctx.observe(enter(0, sizeof(RegWait) - 1));
}

void mem_region_modes(CaseContext& ctx, IoUringBackend& be, const std::string& mode, const RegFn& reg) {
  AlignedBuffer page(4096), other(4096);
  RegionDesc rd{};
  rd.user_addr = reinterpret_cast<uintptr_t>(page.data());
  rd.size = 4096;
  rd.flags = kMemRegionTypeUser;
  MemRegionReg mr{};
  mr.region_uptr = reinterpret_cast<uintptr_t>(&rd);
  const int fd = be.ring().ring_fd;
  const char* call = "io_uring_register(MEM_REGION)";
  if (mode == "mem-region") {
    if (reg(fd, kRegisterMemRegion, &mr, 1, call) != 0) return;
    RegionDesc rd2 = rd;
    rd2.user_addr = reinterpret_cast<uintptr_t>(other.data());
    mr.region_uptr = reinterpret_cast<uintptr_t>(&rd2);
    reg(fd, kRegisterMemRegion, &mr, 1, call);  // one region per ring
  } else if (mode == "mem-region-resv" || mode == "mem-region-misaligned") {
    if (mode == "mem-region-resv") mr.resv[0] = 1;
    else rd.size = 100;
    reg(fd, kRegisterMemRegion, &mr, 1, call);
    mr.resv[0] = 0;
    rd.size = 4096;
    reg(fd, kRegisterMemRegion, &mr, 1, call);
  } else if (mode == "mem-region-wait-reg") {
    wait_reg_enter(ctx, be, rd, mr, reg);
  } else {  // mem-region-wait-arg-enabled
    mr.flags = kMemRegionRegWaitArg;
    reg(fd, kRegisterMemRegion, &mr, 1, "io_uring_register(MEM_REGION) WAIT_ARG on an enabled ring");
    OtherRing disabled(ctx, IORING_SETUP_R_DISABLED);
    reg(disabled.ring.ring_fd, kRegisterMemRegion, &mr, 1, "io_uring_register(MEM_REGION) WAIT_ARG on an R_DISABLED ring");
  }
}

// IORING_REGISTER_QUERY (io_uring/query.c io_query()): IO_URING_QUERY_OPCODES
// on the ring or blind (fd -1); its answers are compared with what this ring's
// own IORING_REGISTER_PROBE and params.features say.
void query_modes(CaseContext& ctx, IoUringBackend& be, const std::string& mode, const RegFn& reg) {
  QueryOpcodes q{};
  QueryHdr h{};
  h.query_data = reinterpret_cast<uintptr_t>(&q);
  h.size = sizeof q;
  h.query_op = mode == "query-unknown-op" ? 99 : kQueryOpcodes;
  if (mode == "query-resv") h.resv[1] = 1;
  const int fd = mode == "query-blind" ? -1 : be.ring().ring_fd;
  if (reg(fd, kRegisterQuery, &h, mode == "query-nr-args" ? 1 : 0, "io_uring_register(QUERY)") != 0) return;
  // The entry's own result: 0, or a negated errno.
  ctx.observe(h.result < 0 ? Outcome::error(-h.result, Channel::cqe_res, Phase::setup) : value(h.result));
  if (h.result != 0) return;
  std::vector<char> pbuf(sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op), 0);
  auto* probe = reinterpret_cast<io_uring_probe*>(pbuf.data());
  if (io_uring_register(static_cast<unsigned>(be.ring().ring_fd), IORING_REGISTER_PROBE, probe, 256) != 0)
    ctx.broken("IORING_REGISTER_PROBE");
  ctx.observe(value(q.nr_request_opcodes == probe->last_op + 1u));
  const uint64_t feats = be.params().features;
  ctx.observe(value((q.feature_flags & feats) == feats));
  ctx.observe(value(q.nr_register_opcodes > kRegisterQuery && (q.ring_setup_flags & kSetupCqeMixed) != 0));
}

// mode:
//  iowq-aff (a mask of CPU 0: 0; IORING_UNREGISTER_IOWQ_AFF: 0) |
//  iowq-aff-no-arg (NULL mask: EINVAL) | iowq-aff-unreadable (mask on a
//  PROT_NONE page: EFAULT) | iowq-aff-unregister-with-arg (EINVAL) |
//  clock-boottime (0; then a 1 ms IORING_OP_TIMEOUT still expires: -ETIME) |
//  clock-realtime (EINVAL) | clock-resv (EINVAL) | clock-nr-args (EINVAL) |
//  pbuf-status (a buffer ring of group 3 registered, observed; 2 buffers
//  added and none consumed: PBUF_STATUS 0, then the head, 0, at setup) | pbuf-status-missing (group 9:
//  ENOENT) | pbuf-status-legacy (a PROVIDE_BUFFERS group: EINVAL) |
//  pbuf-status-resv (reserved word set: EINVAL) |
//  napi-* (napi_modes), clone-* (clone_modes), send-msg-ring* (send_msg_ring_modes),
//  mem-region* (mem_region_modes), query-* (query_modes): each row's
//  observations are in its `expect` and `source`
AIOH_SCENARIO(uring_register_ext,
              aioh::param::choice("mode", "iowq-aff",
                                  {"iowq-aff", "iowq-aff-no-arg", "iowq-aff-unreadable",
                                   "iowq-aff-unregister-with-arg", "clock-boottime", "clock-realtime",
                                   "clock-resv", "clock-nr-args", "pbuf-status", "pbuf-status-missing",
                                   "pbuf-status-legacy", "pbuf-status-resv", "napi-register", "napi-iopoll",
                                   "napi-pad", "napi-unknown-opcode", "napi-static-tracking", "napi-add-id-dynamic",
                                   "napi-unregister-nr-args", "clone-read-fixed", "clone-busy", "clone-replace",
                                   "clone-unknown-flag", "clone-nr-over", "clone-src-registered",
                                   "clone-src-registered-unused", "clone-src-empty", "clone-src-not-ring",
                                   "send-msg-ring", "send-msg-ring-flags", "send-msg-ring-opcode", "mem-region-wait-reg",
                                   "send-msg-ring-on-ring", "mem-region", "mem-region-resv", "mem-region-misaligned",
                                   "mem-region-wait-arg-enabled", "query-opcodes", "query-blind", "query-unknown-op",
                                   "query-resv", "query-nr-args"},
                                  "which registration and which argument")) {
  IoUringBackend& be = up(ctx, 8);
  const std::string mode = ctx.str("mode");
  const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
  auto reg = [&](unsigned op, void* arg, unsigned nr, const char* call) {
    return register_call(ctx, static_cast<int>(fd), op, arg, nr, call);
  };

  const RegFn regfd = [&](int rfd, unsigned op, void* arg, unsigned nr, const char* call) {
    return register_call(ctx, rfd, op, arg, nr, call);
  };
  if (mode.rfind("napi-", 0) == 0) return napi_modes(ctx, be, mode, regfd);
  if (mode.rfind("clone-", 0) == 0) return clone_modes(ctx, be, mode, regfd);
  if (mode.rfind("send-msg-ring", 0) == 0) return send_msg_ring_modes(ctx, be, mode, regfd);
  if (mode.rfind("mem-region", 0) == 0) return mem_region_modes(ctx, be, mode, regfd);
  if (mode.rfind("query-", 0) == 0) return query_modes(ctx, be, mode, regfd);

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

// IORING_REGISTER_RESIZE_RINGS (6.13, io_uring/register.c
// io_register_resize_rings()): the SQ and CQ rings reallocated at new sizes,
// the SQEs and CQEs between head and tail copied slot for slot, -EOVERFLOW
// (old rings kept) when they do not fit. liburing 2.3 has no
// io_uring_resize_rings() and would go on using its stale mappings, so the
// ring is raw (rawring::Ring: its own mmaps, remapped from the offsets the
// kernel writes back into the params) and the call is io_uring_register(2)
// through syscall(2). Only SINGLE_ISSUER | DEFER_TASKRUN rings are resized.
// The SQ has no index array (NO_SQARRAY, 6.6) where the kernel takes the
// flag: the copy is of SQE slots, and a new SQ array would start zeroed.
// Without the opcode (before 6.13) every call answers EINVAL (today's
// opcode >= IORING_REGISTER_LAST check; the 5.15-era io_uring of Debian's
// 5.10 first quiesces the ring for an unknown opcode, then its switch's
// default answers EINVAL), and the rows key that on a fact; so where DEFER_TASKRUN itself is unknown
// (before 6.1) the rings are plain ones and the rows still run.
// mode:
//  keeps-entries   4/8 entries: NOPs 1-3 submitted (their CQEs pending), NOPs 4-5 queued
//                  unsubmitted; resize to 8/32 (CQSIZE): the call, the params' sq_entries and
//                  cq_entries written back, the new mapping's cq ring_entries, its CQEs pending
//                  and their tags, its SQEs pending, an enter submitting them and their tags.
//  cq-overflow     3 CQEs pending, resize to 1/2: the call; then through the old mapping
//                  the 3 CQEs pending and their tags, a NOP submitted and its tag.
//  sq-overflow     3 NOPs queued unsubmitted, resize to 2/8: the call; then the SQEs
//                  pending, an enter submitting them, their tags.
//  needs-defer     a ring without DEFER_TASKRUN resized to 8 entries, then a DEFER_TASKRUN one.
//  bad-flags       flags IORING_SETUP_SQPOLL (not CQSIZE/CLAMP), then flags 0.
//  zero-entries    sq_entries 0, then 8.
//  cq-below-sq     CQSIZE with 8/4, then 8/16.
//  too-many        65536 entries (past IORING_MAX_ENTRIES), then with CLAMP: the call and
//                  the sq_entries written back.
//  bad-pointer     the params on a PROT_NONE page, then a NULL pointer.
//  nr-args         nr_args 2, then 1.
AIOH_SCENARIO(uring_resize_rings,
              aioh::param::choice("mode", "keeps-entries",
                                  {"keeps-entries", "cq-overflow", "sq-overflow", "needs-defer", "bad-flags",
                                   "zero-entries", "cq-below-sq", "too-many", "bad-pointer", "nr-args"},
                                  "which resize")) {
  backend(ctx);
  const std::string mode = ctx.str("mode");
  auto val = [&](int64_t v, Phase ph = Phase::setup) { ctx.observe(Outcome::ok(v, Channel::ret, ph)); };
  unsigned flags = 0;
  if (ctx.env().flag("io_uring.setup.DEFER_TASKRUN")) flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (ctx.env().flag("io_uring.setup.NO_SQARRAY")) flags |= IORING_SETUP_NO_SQARRAY;
  rawring::Ring r;
  if (r.create(4, mode == "needs-defer" ? 0u : flags) != 0)
    ctx.broken("io_uring_setup: " + errno_name(r.err));
  const int fd = static_cast<int>(r.fd);
  auto resize = [&](int rfd, void* arg, unsigned nr = 1) {
    long rc = rawring::reg(static_cast<unsigned>(rfd), kRegisterResizeRings, arg, nr);
    ctx.observe(rc < 0 ? Outcome::error(errno, Channel::errno_, Phase::setup) : Outcome::ok(rc, Channel::ret, Phase::setup));
    return rc;
  };
  auto sizes = [](unsigned sq, unsigned cq, unsigned f) {
    io_uring_params p{};
    p.sq_entries = sq;
    p.cq_entries = cq;
    p.flags = f;
    return p;
  };
  auto cq_pending = [&] { return *r.u32(r.p.cq_off.tail) - *r.u32(r.p.cq_off.head); };
  auto sq_pending = [&] { return *r.u32(r.p.sq_off.tail) - *r.u32(r.p.sq_off.head); };
  auto queue = [&](uint64_t from, uint64_t to) {
    for (uint64_t t = from; t <= to; ++t)
      if (!r.queue_nop(t)) ctx.broken("no SQ slot");
  };
  auto enter = [&](unsigned n, unsigned flags_) {
    long got = r.enter_ring(n, flags_ ? n : 0, flags_);
    ctx.observe(got < 0 ? Outcome::error(errno, Channel::errno_, Phase::submit) : Outcome::ok(got, Channel::ret, Phase::submit));
    return got;
  };
  auto tags = [&](unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      uint64_t tag = 0;
      int32_t res = 0;
      if (!r.pop(tag, res)) ctx.broken("a CQE counted pending is not there");
      val(static_cast<int64_t>(tag), Phase::completion);
    }
  };
  // NOPs 1..3 completed, their CQEs left on the ring.
  auto three_cqes = [&] {
    queue(1, 3);
    if (r.enter_ring(3, 0, 0) != 3 || cq_pending() != 3) ctx.broken("3 NOPs did not leave 3 CQEs");
  };

  if (mode == "keeps-entries") {
    three_cqes();
    queue(4, 5);
    io_uring_params np = sizes(8, 32, IORING_SETUP_CQSIZE);
    if (resize(fd, &np) != 0) return;
    val(np.sq_entries);
    val(np.cq_entries);
    // The old mappings still show the old rings' pages: map the new ones.
    munmap(r.ring_mem, r.ring_len);
    munmap(r.sqe_mem, r.sqe_len);
    r.ring_mem = r.sqe_mem = MAP_FAILED;
    r.p = np;
    if (r.map() != 0) ctx.broken("mmap of the resized rings: " + errno_name(r.err));
    val(*r.u32(r.p.cq_off.ring_entries));
    const unsigned c = cq_pending();
    val(c);
    tags(std::min(c, 3u));
    val(sq_pending());
    if (enter(2, IORING_ENTER_GETEVENTS) == 2) tags(2);
  } else if (mode == "cq-overflow") {
    three_cqes();
    io_uring_params np = sizes(1, 2, IORING_SETUP_CQSIZE);
    resize(fd, &np);
    val(cq_pending());
    tags(3);
    queue(4, 4);
    if (enter(1, IORING_ENTER_GETEVENTS) == 1) tags(1);
  } else if (mode == "sq-overflow") {
    queue(1, 3);
    io_uring_params np = sizes(2, 8, IORING_SETUP_CQSIZE);
    resize(fd, &np);
    val(sq_pending());
    if (enter(3, IORING_ENTER_GETEVENTS) == 3) tags(3);
  } else if (mode == "needs-defer") {
    io_uring_params np = sizes(8, 0, 0);
    resize(fd, &np);
    rawring::Ring d;
    if (d.create(4, flags) != 0) ctx.broken("io_uring_setup DEFER_TASKRUN: " + errno_name(d.err));
    np = sizes(8, 0, 0);
    resize(static_cast<int>(d.fd), &np);
  } else if (mode == "bad-flags" || mode == "zero-entries" || mode == "cq-below-sq" || mode == "nr-args") {
    io_uring_params bad = sizes(8, 0, mode == "bad-flags" ? IORING_SETUP_SQPOLL : 0u);
    io_uring_params good = sizes(8, 0, 0);
    if (mode == "zero-entries") bad.sq_entries = 0;
    if (mode == "cq-below-sq") {
      bad = sizes(8, 4, IORING_SETUP_CQSIZE);
      good = sizes(8, 16, IORING_SETUP_CQSIZE);
    }
    resize(fd, &bad, mode == "nr-args" ? 2 : 1);
    resize(fd, &good);
  } else if (mode == "too-many") {
    io_uring_params np = sizes(65536, 0, 0);
    resize(fd, &np);
    np = sizes(65536, 0, IORING_SETUP_CLAMP);
    if (resize(fd, &np) == 0) val(np.sq_entries);
  } else {  // bad-pointer
    void* none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (none == MAP_FAILED) ctx.broken("mmap PROT_NONE");
    resize(fd, none);
    munmap(none, 4096);
    resize(fd, nullptr);
  }
}

}  // namespace
}  // namespace aioh
