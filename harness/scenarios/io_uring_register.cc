// io_uring_register(2) resources and their use: registered files
// (IOSQE_FIXED_FILE with an index out of range, with no table, a sparse
// slot, a set that holds a closed fd, an empty set, registering twice,
// unregistering nothing, an update past the table, the ring's own fd in a
// set or an update) and registered buffers
// (IORING_OP_READ_FIXED/WRITE_FIXED inside the buffer, with an index out of
// range, an address outside it, no table, zero-length, NULL and over-1 GiB
// iovecs, one whose end wraps, twice, unregistering nothing), an unknown
// register opcode or a fd that is not a ring, IORING_REGISTER_RESTRICTIONS
// (opcodes, SQE flags, register opcodes, twice, an unknown rule), and the eventfd,
// personality and io-wq worker-limit registrations.
// Register calls are phase setup; fixed I/O results are cqe->res.
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <functional>

#include "convention.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// One liburing registration call of the setup phase, observed under its
// name with errno armed (liburing_ret tells a library that set it).
template <class Call>
void observe_setup(CaseContext& ctx, IoUringBackend& be, const char* name, Call call) {
  arm_errno();
  int ret = call();
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup, name));
}

// The two registration modes file and buffer tables share: "twice"
// registers one table twice (the second call meets a table in place),
// "unregister-none" unregisters with no table. False for any other mode.
bool table_lifecycle(const std::string& mode, const std::function<void()>& register_once,
                     const std::function<void()>& unregister) {
  if (mode == "twice") {
    register_once();
    register_once();
  } else if (mode == "unregister-none") {
    unregister();
  } else {
    return false;
  }
  return true;
}

AIOH_URING_CHOICE_SCENARIO(uring_register_files, 8, mode, "read",
                           "a fixed-file read (at a bad index, without a table, from a sparse slot) or a registration case",
                           "read", "index-oob", "no-table", "sparse-slot", "closed-fd-in-set", "empty-set", "twice",
                           "unregister-none", "update-past-end", "ring-fd-in-set", "ring-fd-update") {
  io_uring& ring = be.ring();
  int fd = ctx.scratch_file("files", 8192, O_RDONLY | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file");
  // One table of fd registered, and the table removed.
  auto register_set = [&] {
    observe_setup(ctx, be, "io_uring_register_files", [&] { return io_uring_register_files(&ring, &fd, 1); });
  };
  auto unregister_set = [&] {
    observe_setup(ctx, be, "io_uring_unregister_files", [&] { return io_uring_unregister_files(&ring); });
  };
  if (mode == "closed-fd-in-set") {
    int fds[] = {fd, closed_fd()};
    observe_setup(ctx, be, "io_uring_register_files", [&] { return io_uring_register_files(&ring, fds, 2); });
  } else if (mode == "ring-fd-in-set") {
    // The ring's own fd after a regular file: the whole set is refused.
    int fds[] = {fd, ring.ring_fd};
    observe_setup(ctx, be, "io_uring_register_files", [&] { return io_uring_register_files(&ring, fds, 2); });
  } else if (mode == "ring-fd-update") {
    // Slot 0 holds the file; an update putting the ring's fd there is
    // refused, and the slot is emptied before the new fd is looked at, so a
    // fixed read of slot 0 then finds nothing.
    register_set();
    observe_setup(ctx, be, "io_uring_register_files_update",
                  [&] { return io_uring_register_files_update(&ring, 0, &ring.ring_fd, 1); });
    AlignedBuffer buf(4096);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_read(s, 0, buf.data(), 4096, 0);
      s->flags |= IOSQE_FIXED_FILE;
    });
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (mode == "empty-set") {
    observe_setup(ctx, be, "io_uring_register_files", [&] { return io_uring_register_files(&ring, &fd, 0); });
  } else if (table_lifecycle(mode, register_set, unregister_set)) {
    // observed by the calls
  } else if (mode == "update-past-end") {
    register_set();
    observe_setup(ctx, be, "io_uring_register_files_update",
                  [&] { return io_uring_register_files_update(&ring, 4, &fd, 1); });
  } else {
    // A fixed-file read: index 0 normally, or an index/table that is wrong.
    int index = 0;
    if (mode == "read" || mode == "index-oob") {
      register_set();
      if (mode == "index-oob") index = 5;
    } else if (mode == "sparse-slot") {
      observe_setup(ctx, be, "io_uring_register_files_sparse",
                    [&] { return io_uring_register_files_sparse(&ring, 2); });
    } else if (mode != "no-table") {
      ctx.broken("unknown mode " + mode);
    }
    AlignedBuffer buf(4096);
    io_uring_sqe* s = sqe(ctx, be);
    io_uring_prep_read(s, index, buf.data(), 4096, 4096);
    s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, 1);
    submit_n(ctx, be, 1);
    auto c = reap(ctx, be, 1);
    observe_cqes(ctx, c);
    if (c[0].res > 0)
      ctx.check(verify_buffer(buf.data(), c[0].res, kFileSeed, 4096).empty(),
                "fixed-file read data mismatch");
  }
  close(fd);
}

AIOH_SCENARIO(uring_register_buffers,
              aioh::param::choice("mode", "read",
                                  {"read", "write", "index-oob", "outside", "no-table", "zero-len", "null-base",
                                   "too-big", "twice", "unregister-none", "wrap"},
                                  "a fixed-buffer read or write (at a bad index, past the buffer, without a table) or a registration case")) {
  IoUringBackend& be = up(ctx, 8);
  io_uring& ring = be.ring();
  const std::string mode = ctx.str("mode");
  int fd = ctx.scratch_file("bufs", 16384, O_RDWR | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file");
  AlignedBuffer buf(8192);
  iovec iov{buf.data(), 8192};
  // One table of iov registered, and the table removed.
  auto register_set = [&] {
    observe_setup(ctx, be, "io_uring_register_buffers", [&] { return io_uring_register_buffers(&ring, &iov, 1); });
  };
  auto unregister_set = [&] {
    observe_setup(ctx, be, "io_uring_unregister_buffers", [&] { return io_uring_unregister_buffers(&ring); });
  };
  if (mode == "wrap") {
    // The address space's last page with two pages' length: base + len
    // wraps past zero (never mapped or touched).
    iov = {reinterpret_cast<void*>(~uintptr_t{0} - 4095), 8192};
    register_set();
  } else if (mode == "zero-len" || mode == "null-base" || mode == "too-big") {
    void* big = MAP_FAILED;
    if (mode == "zero-len") iov.iov_len = 0;
    if (mode == "null-base") iov.iov_base = nullptr;
    if (mode == "too-big") {
      // Address space only (never touched): the size check comes first.
      big = mmap(nullptr, (1UL << 30) + 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (big == MAP_FAILED) ctx.broken("mmap");
      iov = {big, (1UL << 30) + 4096};
    }
    register_set();
    if (big != MAP_FAILED) munmap(big, (1UL << 30) + 4096);
  } else if (table_lifecycle(mode, register_set, unregister_set)) {
    // observed by the calls
  } else {
    if (mode != "no-table") {
      register_set();
    }
    const bool write = mode == "write";
    int index = mode == "index-oob" ? 3 : 0;
    uint8_t* addr = buf.data();
    if (mode == "outside") addr = buf.data() + 8192 - 2048;  // runs 2 KiB past
    if (write) fill_pattern(addr, 4096, kWriteSeed, 4096);
    io_uring_sqe* s = sqe(ctx, be);
    if (write)
      io_uring_prep_write_fixed(s, fd, addr, 4096, 4096, index);
    else
      io_uring_prep_read_fixed(s, fd, addr, 4096, 4096, index);
    io_uring_sqe_set_data64(s, 1);
    submit_n(ctx, be, 1);
    auto c = reap(ctx, be, 1);
    observe_cqes(ctx, c);
    if (c[0].res > 0) {
      std::string bad =
          write ? verify_file(fd, 4096, static_cast<size_t>(c[0].res), kWriteSeed)
                : verify_buffer(addr, static_cast<size_t>(c[0].res), kFileSeed, 4096);
      ctx.check(bad.empty(), "fixed-buffer data: " + bad);
    }
  }
  close(fd);
}

// io_uring_register(2) with an opcode (default: one the kernel does not
// know) on the ring, on a regular file, or on a closed fd.
AIOH_SCENARIO(uring_register_raw,
              aioh::param::choice("fd", "ring", {"ring", "file", "closed"}, "the descriptor: the ring, a file, a closed one"),
              aioh::param::integer("opcode", 250, "io_uring_register's opcode", 0, UINT32_MAX)) {
  IoUringBackend& be = up(ctx, 8);
  const std::string target = ctx.str("fd");
  int fd = be.ring().ring_fd;
  int file = -1;
  if (target == "file") fd = file = ctx.scratch_file("reg", 4096, O_RDONLY | O_CLOEXEC);
  if (target == "closed") fd = closed_fd();
  arm_errno();
  int ret = io_uring_register(static_cast<unsigned>(fd),
                              static_cast<unsigned>(ctx.num("opcode")),
                              nullptr, 0);
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup, "io_uring_register"));
  if (file >= 0) close(file);
}

// IORING_REGISTER_RESTRICTIONS: on a ring created R_DISABLED, allow only
// IORING_OP_NOP; after IORING_REGISTER_ENABLE_RINGS a NOP runs and a READ is
// refused with -EACCES in its CQE. On a ring that is not disabled the
// registration itself is refused (EBADFD). liburing 2.3's .so lacks
// io_uring_register_restrictions(), so the raw register call is used.
AIOH_SCENARIO(uring_restrictions,
              aioh::param::boolean("enabled_ring", false, "register on a ring that is not R_DISABLED")) {
  const bool disabled = !ctx.flag("enabled_ring");
  IoUringBackend& be = up(ctx, 8, disabled ? IORING_SETUP_R_DISABLED : 0);
  const unsigned fd = static_cast<unsigned>(be.ring().ring_fd);
  io_uring_restriction res{};
  res.opcode = IORING_RESTRICTION_SQE_OP;
  res.sqe_op = IORING_OP_NOP;
  arm_errno();
  int ret = io_uring_register(fd, IORING_REGISTER_RESTRICTIONS, &res, 1);
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup,
                              "io_uring_register(RESTRICTIONS)"));
  if (!disabled || ret < 0) return;
  arm_errno();
  ret = io_uring_register(fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  ctx.observe(be.liburing_ret(ret, errno, Phase::setup,
                              "io_uring_register(ENABLE_RINGS)"));
  char buf[64];
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, 1);
  s = sqe(ctx, be);
  io_uring_prep_read(s, static_cast<int>(fd), buf, sizeof buf, 0);
  io_uring_sqe_set_data64(s, 2);
  Outcome o = be.submit_queued();
  ctx.observe(o);
  if (!o.is_error) observe_cqes(ctx, reap(ctx, be, static_cast<unsigned>(o.value)));
}

// The rest of IORING_REGISTER_RESTRICTIONS, each on a ring created
// R_DISABLED (io_uring/register.c io_parse_restrictions(); the SQE checks in
// io_uring/io_uring.c io_check_restriction()). mode:
//  flags-required (NOP allowed, IOSQE_ASYNC required: a NOP with it, tag 1,
//    then one without, tag 2; the failing SQE last, as submission stops there) |
//  flags-allowed (NOP allowed with IOSQE_ASYNC only: NOP|ASYNC, then
//    NOP|IOSQE_FIXED_FILE, which a NOP never looks at otherwise) |
//  register-op (NOP and the register opcode IORING_REGISTER_PROBE allowed:
//    after enabling, PROBE answers 0 and PERSONALITY is refused) |
//  twice (a second registration of restrictions) |
//  unknown-opcode (restriction opcode 99; then a valid registration, which
//    the failed one did not use up)
// Observes each register call (setup), then the submit's count and the CQEs
// in tag order.
AIOH_SCENARIO(uring_restriction_rules,
              aioh::param::choice("mode", "flags-required",
                                  {"flags-required", "flags-allowed", "register-op", "twice", "unknown-opcode"},
                                  "which restriction rule")) {
  const std::string mode = ctx.str("mode");
  IoUringBackend& rb = up(ctx, 8, IORING_SETUP_R_DISABLED);
  const unsigned fd = static_cast<unsigned>(rb.ring().ring_fd);
  auto reg = [&](unsigned op, void* arg, unsigned nr, const char* name) {
    arm_errno();
    int ret = io_uring_register(fd, op, arg, nr);
    ctx.observe(rb.liburing_ret(ret, errno, Phase::setup, name));
    return ret;
  };
  std::vector<io_uring_restriction> res(1);
  res[0].opcode = IORING_RESTRICTION_SQE_OP;
  res[0].sqe_op = IORING_OP_NOP;
  if (mode == "twice") {
    reg(IORING_REGISTER_RESTRICTIONS, res.data(), 1, "io_uring_register(RESTRICTIONS)");
    reg(IORING_REGISTER_RESTRICTIONS, res.data(), 1, "io_uring_register(RESTRICTIONS)");
    return;
  }
  if (mode == "unknown-opcode") {
    io_uring_restriction bad{};
    bad.opcode = 99;
    reg(IORING_REGISTER_RESTRICTIONS, &bad, 1, "io_uring_register(RESTRICTIONS)");
    reg(IORING_REGISTER_RESTRICTIONS, res.data(), 1, "io_uring_register(RESTRICTIONS)");
    return;
  }
  io_uring_restriction extra{};
  if (mode == "register-op") {
    extra.opcode = IORING_RESTRICTION_REGISTER_OP;
    extra.register_op = IORING_REGISTER_PROBE;
  } else {
    extra.opcode = mode == "flags-required" ? IORING_RESTRICTION_SQE_FLAGS_REQUIRED
                                            : IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    extra.sqe_flags = IOSQE_ASYNC;
  }
  res.push_back(extra);
  if (reg(IORING_REGISTER_RESTRICTIONS, res.data(), 2, "io_uring_register(RESTRICTIONS)") < 0) return;
  if (reg(IORING_REGISTER_ENABLE_RINGS, nullptr, 0, "io_uring_register(ENABLE_RINGS)") < 0) return;
  if (mode == "register-op") {
    std::vector<uint8_t> mem(sizeof(io_uring_probe) + 4 * sizeof(io_uring_probe_op), 0);
    reg(IORING_REGISTER_PROBE, mem.data(), 4, "io_uring_register(PROBE)");
    reg(IORING_REGISTER_PERSONALITY, nullptr, 0, "io_uring_register(PERSONALITY)");
    return;
  }
  io_uring_sqe* s = sqe(ctx, rb);
  io_uring_prep_nop(s);
  s->flags = IOSQE_ASYNC;
  io_uring_sqe_set_data64(s, 1);
  s = sqe(ctx, rb);
  io_uring_prep_nop(s);
  s->flags = mode == "flags-required" ? 0 : IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(s, 2);
  Outcome o = rb.submit_queued();
  ctx.observe(o);
  if (!o.is_error) observe_cqes(ctx, reap(ctx, rb, static_cast<unsigned>(o.value)));
}

// Other io_uring_register(2) resources. mode:
//  eventfd (IORING_REGISTER_EVENTFD: 0; a NOP's completion signals it, the
//    counter reads 1) | eventfd-twice (-EBUSY) | eventfd-none (unregister
//    with none registered: -ENXIO) | eventfd-not-eventfd (a regular file) |
//  personality (IORING_REGISTER_PERSONALITY returns an id >= 1, observed as
//    1/0; a NOP with that sqe->personality completes; unregistering it: 0) |
//  personality-unknown (unregister id 999) |
//  iowq-max-workers (IORING_REGISTER_IOWQ_MAX_WORKERS with {0, 0} reads the
//    limits back without changing them: 0, both non-zero, 1/0; then {1, 1}:
//    0 and the old values come back, 1/0)
AIOH_SCENARIO(uring_register_misc,
              aioh::param::choice("mode", "eventfd",
                                  {"eventfd", "eventfd-twice", "eventfd-none", "eventfd-not-eventfd", "personality",
                                   "personality-unknown", "iowq-max-workers"},
                                  "which registration")) {
  IoUringBackend& be = up(ctx, 8);
  io_uring& ring = be.ring();
  const std::string mode = ctx.str("mode");
  auto lib = [&](int ret, int e, const char* call) { ctx.observe(be.liburing_ret(ret, e, Phase::setup, call)); };
  if (mode.rfind("eventfd", 0) == 0) {
    if (mode == "eventfd-none") {
      arm_errno();
      int r = io_uring_unregister_eventfd(&ring);
      lib(r, errno, "io_uring_unregister_eventfd");
      return;
    }
    int efd = mode == "eventfd-not-eventfd" ? ctx.scratch_file("notefd", 4096, O_RDONLY | O_CLOEXEC)
                                             : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) ctx.broken("eventfd");
    arm_errno();
    int r = io_uring_register_eventfd(&ring, efd);
    lib(r, errno, "io_uring_register_eventfd");
    if (mode == "eventfd-twice") {
      arm_errno();
      int r2 = io_uring_register_eventfd(&ring, efd);
      lib(r2, errno, "io_uring_register_eventfd");
    } else if (mode == "eventfd" && r == 0) {
      submit_one(ctx, be, 1, [](io_uring_sqe* x) { io_uring_prep_nop(x); });
      observe_cqes(ctx, reap(ctx, be, 1));
      uint64_t v = 0;
      ssize_t n = read(efd, &v, sizeof v);
      ctx.observe(Outcome::ok(n == sizeof v ? static_cast<int64_t>(v) : -1, Channel::ret, Phase::completion));
    }
    close(efd);
    return;
  }
  if (mode.rfind("personality", 0) == 0) {
    arm_errno();
    int id = mode == "personality" ? io_uring_register_personality(&ring) : 999;
    if (mode == "personality") {
      ctx.observe(Outcome::ok(id >= 1 ? 1 : 0, Channel::ret, Phase::setup));
      if (id < 1) return;
      submit_one(ctx, be, 1, [&](io_uring_sqe* x) {
        io_uring_prep_nop(x);
        x->personality = static_cast<__u16>(id);
      });
      observe_cqes(ctx, reap(ctx, be, 1));
    }
    arm_errno();
    int r = io_uring_unregister_personality(&ring, id);
    lib(r, errno, "io_uring_unregister_personality");
    return;
  }
  unsigned vals[2] = {0, 0};
  arm_errno();
  int r = io_uring_register_iowq_max_workers(&ring, vals);
  lib(r, errno, "io_uring_register_iowq_max_workers");
  if (r != 0) return;
  const unsigned bounded = vals[0], unbounded = vals[1];
  ctx.observe(Outcome::ok(bounded > 0 && unbounded > 0, Channel::ret, Phase::setup));
  unsigned set[2] = {1, 1};
  arm_errno();
  r = io_uring_register_iowq_max_workers(&ring, set);
  lib(r, errno, "io_uring_register_iowq_max_workers");
  ctx.observe(Outcome::ok(set[0] == bounded && set[1] == unbounded, Channel::ret, Phase::setup));
}

}  // namespace
}  // namespace aioh
