// Buffers the kernel picks: IORING_OP_PROVIDE_BUFFERS / REMOVE_BUFFERS
// (5.7) and ring-mapped buffer groups, IORING_REGISTER_PBUF_RING (5.19). A
// read with IOSQE_BUFFER_SELECT names a group instead of a buffer; its CQE
// carries IORING_CQE_F_BUFFER and the buffer id in the upper 16 bits of
// cqe->flags (IORING_CQE_BUFFER_SHIFT), and the data read is checked in the
// buffer the id names. An empty group is -ENOBUFS. Registration rules of
// buffer rings (power-of-two entries, page-aligned memory, one ring per
// group id) and the errors of provide/remove.
#include <sys/mman.h>

#include "convention.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr unsigned kBufLen = 64;

// Queues a 64-byte read at offset 0 of `fd` into a buffer of group `bgid`.
void queue_select_read(CaseContext& ctx, IoUringBackend& be, int fd, int bgid, uint64_t tag) {
  io_uring_sqe* s = sqe(ctx, be);
  io_uring_prep_read(s, fd, nullptr, kBufLen, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = static_cast<__u16>(bgid);
  io_uring_sqe_set_data64(s, tag);
}

// Observes a selected read's res, IORING_CQE_F_BUFFER (1/0) and buffer id,
// and checks the data in that buffer (base + bid * kBufLen).
void observe_selected(CaseContext& ctx, const RawCqe& c, const uint8_t* base, unsigned first_bid,
                      unsigned nbufs) {
  ctx.observe(IoUringBackend::res_outcome(c.res));
  if (c.res < 0) return;
  const bool has = c.flags & IORING_CQE_F_BUFFER;
  ctx.observe(Outcome::ok(has ? 1 : 0, Channel::cqe_res, Phase::completion));
  const unsigned bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
  ctx.observe(Outcome::ok(bid, Channel::cqe_res, Phase::completion));
  if (!has || bid < first_bid || bid >= first_bid + nbufs) {
    ctx.check(false, "buffer id " + std::to_string(bid) + " is not one that was provided");
    return;
  }
  const uint8_t* buf = base + static_cast<size_t>(bid - first_bid) * kBufLen;
  std::string bad = verify_buffer(buf, static_cast<size_t>(c.res), kFileSeed, 0);
  ctx.check(bad.empty(), "selected buffer " + std::to_string(bid) + ": " + bad);
}

// IORING_OP_PROVIDE_BUFFERS / REMOVE_BUFFERS. mode:
//  read (4 buffers of 64 bytes, ids 0..3, group 1; one selected read: the
//    provide's res, then the read's res, F_BUFFER, id) |
//  exhaust (1 buffer, two reads: the second finds the group empty) |
//  empty-group (a read selecting group 9, which has none) |
//  remove (4 provided, remove 2, remove 8: what is left, then remove again) |
//  remove-missing (remove from a group never provided) |
//  provide-zero (nbufs 0) | provide-bid-overflow (bid 65535, 2 buffers) |
//  provide-bid-limit (bid 65535, 1 buffer: the last id; then bid 65536) |
//  provide-addr-wrap (2 buffers of 4 KiB at the last page of the address
//    space: addr + size wraps) | provide-kernel-addr (1 buffer of 64 bytes
//    at 0xffff888000000000, in the kernel's half) | provide-same-bid (bid 0
//    provided twice, then REMOVE of 8: how many were in the group)
AIOH_URING_CHOICE_SCENARIO(uring_provide_buffers, 16, mode, "read", "what is done with the provided buffers",
                           "read", "exhaust", "empty-group", "remove", "remove-missing", "provide-zero",
                           "provide-bid-overflow", "provide-addr-wrap", "provide-kernel-addr", "provide-same-bid",
                           "provide-bid-limit") {
  int fd = ctx.scratch_file("bufsel", 4096, O_RDONLY | O_CLOEXEC);
  std::vector<uint8_t> pool(4 * kBufLen, 0);
  auto provide = [&](unsigned nbufs, int bid, uint64_t tag) {
    submit_one(ctx, be, tag, [&](io_uring_sqe* s) {
      io_uring_prep_provide_buffers(s, pool.data(), kBufLen, static_cast<int>(nbufs), 1, bid);
    });
    observe_cqes(ctx, reap(ctx, be, 1));
  };
  auto remove = [&](unsigned nbufs, int bgid, uint64_t tag) {
    submit_one(ctx, be, tag, [&](io_uring_sqe* s) { io_uring_prep_remove_buffers(s, static_cast<int>(nbufs), bgid); });
    observe_cqes(ctx, reap(ctx, be, 1));
  };
  if (mode == "read" || mode == "exhaust") {
    const unsigned n = mode == "read" ? 4 : 1;
    provide(n, 0, 1);
    for (int i = 0; i < (mode == "read" ? 1 : 2); ++i) {
      queue_select_read(ctx, be, fd, 1, 10 + i);
      submit_n(ctx, be, 1);
      observe_selected(ctx, reap(ctx, be, 1)[0], pool.data(), 0, n);
    }
  } else if (mode == "empty-group") {
    queue_select_read(ctx, be, fd, 9, 10);
    submit_n(ctx, be, 1);
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (mode == "remove") {
    provide(4, 0, 1);
    remove(2, 1, 2);
    remove(8, 1, 3);
    remove(1, 1, 4);
  } else if (mode == "remove-missing") {
    remove(1, 7, 2);
  } else if (mode == "provide-zero") {
    provide(0, 0, 1);
  } else if (mode == "provide-addr-wrap" || mode == "provide-kernel-addr") {
    // Addresses no user mapping has: the prep refuses them before any use.
    const bool wrap = mode == "provide-addr-wrap";
    const uintptr_t addr = wrap ? ~static_cast<uintptr_t>(0xfff) : 0xffff888000000000ull;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_provide_buffers(s, reinterpret_cast<void*>(addr), wrap ? 4096 : kBufLen, wrap ? 2 : 1, 1, 0);
    });
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (mode == "provide-same-bid") {
    provide(1, 0, 1);
    provide(1, 0, 2);
    remove(8, 1, 3);
  } else if (mode == "provide-bid-limit") {
    provide(1, 65535, 1);
    provide(1, 65536, 2);
  } else {
    provide(2, 65535, 1);
  }
  close(fd);
}

// IORING_REGISTER_PBUF_RING. mode:
//  read (8 entries, group 2, buffers 10..13 added; one selected read:
//    register's answer, the read's res, F_BUFFER, id 10: the ring's head) |
//  empty (a registered ring with no buffers added: the read finds none) |
//  npot (3 entries) | misaligned (ring memory not page-aligned) |
//  twice (group 2 registered twice) | unregister-missing (group 7) |
//  provide-into-ring (PROVIDE_BUFFERS into a group that is a ring) |
//  wrap (4 entries: buffers 20..23 taken by four reads, then 30 and 31
//    added past the ring's end, at slots 0 and 1 again, taken by two more;
//    a seventh read finds none) |
//  over-classic (one classic buffer provided to group 2 first: the
//    PROVIDE_BUFFERS CQE, then the ring registration for group 2) |
//  remove-from-ring (REMOVE_BUFFERS of group 2, which is a ring) |
//  entries-65536 (ring_entries 65536, a power of two)
AIOH_URING_CHOICE_SCENARIO(uring_buf_ring, 16, mode, "read", "what is done with the buffer ring",
                           "read", "empty", "npot", "misaligned", "twice", "unregister-missing", "provide-into-ring",
                           "wrap", "over-classic", "remove-from-ring", "entries-65536") {
  int fd = ctx.scratch_file("bufring", 4096, O_RDONLY | O_CLOEXEC);
  auto lib = [&](int ret, int e, const char* call) { return be.liburing_ret(ret, e, Phase::setup, call); };
  BufRing br;
  if (mode == "unregister-missing") {
    arm_errno();
    int ret = io_uring_unregister_buf_ring(&be.ring(), 7);
    ctx.observe(lib(ret, errno, "io_uring_unregister_buf_ring"));
    close(fd);
    return;
  }
  std::vector<uint8_t> classic(kBufLen);
  if (mode == "over-classic") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_provide_buffers(s, classic.data(), kBufLen, 1, 2, 0); });
    observe_cqes(ctx, reap(ctx, be, 1));
  }
  const unsigned entries = mode == "npot" ? 3 : mode == "wrap" ? 4 : mode == "entries-65536" ? 65536 : 8;
  arm_errno();
  int ret = br.reg(be.ring(), entries, 2, mode == "misaligned");
  ctx.observe(lib(ret, errno, "io_uring_register_buf_ring"));
  if (ret == 0 && mode == "twice") {
    BufRing again;
    arm_errno();
    int r2 = again.reg(be.ring(), 8, 2);
    ctx.observe(lib(r2, errno, "io_uring_register_buf_ring"));
  } else if (ret == 0 && mode == "provide-into-ring") {
    std::vector<uint8_t> pool(kBufLen);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_provide_buffers(s, pool.data(), kBufLen, 1, 2, 0); });
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (ret == 0 && mode == "remove-from-ring") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_remove_buffers(s, 1, 2); });
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (ret == 0 && mode == "wrap") {
    auto take = [&](unsigned n, unsigned first_bid, uint64_t tag) {
      for (unsigned i = 0; i < n; ++i) {
        queue_select_read(ctx, be, fd, 2, tag + i);
        submit_n(ctx, be, 1);
        observe_selected(ctx, reap(ctx, be, 1)[0], br.pool.data(), first_bid, n);
      }
    };
    br.add(4, 20, kBufLen);
    take(4, 20, 10);
    br.add(2, 30, kBufLen);  // the ring's tail is now 6: slots 0 and 1 once more
    take(2, 30, 20);
    queue_select_read(ctx, be, fd, 2, 30);
    submit_n(ctx, be, 1);
    observe_cqes(ctx, reap(ctx, be, 1));
  } else if (ret == 0 && (mode == "read" || mode == "empty")) {
    if (mode == "read") br.add(4, 10, kBufLen);
    queue_select_read(ctx, be, fd, 2, 1);
    submit_n(ctx, be, 1);
    RawCqe c = reap(ctx, be, 1)[0];
    if (mode == "read") observe_selected(ctx, c, br.pool.data(), 10, 4);
    else ctx.observe(IoUringBackend::res_outcome(c.res));
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
