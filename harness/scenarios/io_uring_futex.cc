// io_uring's futex opcodes (6.7): IORING_OP_FUTEX_WAIT, FUTEX_WAKE and
// FUTEX_WAITV on futex words in this process's memory. A wait is checked to
// stay pending until woken (no CQE before the wake), a wake's res is the
// number of waiters it woke, a waitv's res the index of the futex that woke
// it; the documented refusals (value differs: EAGAIN; mask 0, unknown flag
// bits, a size other than 32 bits, fields the op does not take, a vector of 0
// or more than 128 entries: EINVAL) come back in cqe->res. liburing 2.3 has
// no prep helpers for these opcodes, so the SQEs are filled by hand as
// io_uring/futex.c io_futex_prep() / io_futexv_prep() read them.
#include <linux/futex.h>
#include <sys/syscall.h>

#include <cstdint>

#include "errno_names.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// include/uapi/linux/futex.h FUTEX2_* (sqe->fd for WAIT/WAKE, futex_waitv.flags).
constexpr uint32_t kSizeU8 = 0x00, kSizeU32 = 0x02, kSizeU64 = 0x03;
constexpr uint32_t kPrivate = 128;      // FUTEX2_PRIVATE
constexpr uint32_t kUnknownBit = 0x10;  // no FUTEX2_* flag
constexpr uint64_t kBitsetAll = 0xffffffffu;  // FUTEX_BITSET_MATCH_ANY

// A FUTEX_WAIT (or WAKE) SQE: futex2 flags in sqe->fd, the word's address in
// addr, the value (WAIT) or count (WAKE) in addr2, the bitset in addr3.
void prep_futex(io_uring_sqe* s, uint8_t op, uint32_t* word, uint64_t val, uint64_t mask, uint32_t flags) {
  io_uring_prep_rw(op, s, static_cast<int>(flags), word, 0, val);
  s->addr3 = mask;
}

void prep_waitv(io_uring_sqe* s, futex_waitv* v, unsigned nr) {
  io_uring_prep_rw(kOpFutexWaitv, s, 0, v, nr, 0);
}

// op:
//  wait-wake         WAIT (word 0, value 0) stays pending; WAKE of 1 wakes it.
//                    Observes: CQEs before the wake, the wait's res, the wake's res.
//  wait-wake-syscall WAIT through the ring, woken by futex(2) FUTEX_WAKE_PRIVATE.
//                    Observes: CQEs before, futex(2)'s return, the wait's res.
//  wake-one-of-two   two WAITs on one word, a WAKE of 1: wake res, then the
//                    CQEs still to come within 100 ms (the other stays queued).
//  wake-mask-miss    WAIT with bitset 0x1, WAKE with bitset 0x2: wake res, then
//                    the CQEs within 100 ms (the wait is not woken).
//  wake-none         WAKE with no waiter: res.
//  wait-cancel       WAIT then ASYNC_CANCEL by user_data: the wait's res, the cancel's res.
//  wait-* refusals   value-differs (word 1, value 0), mask-zero, unknown-flag,
//                    size-u8, size-u64, len-set (sqe->len 1), value-too-big
//                    (a value past 32 bits): the wait's res.
//  waitv-wake        WAITV on two words, WAKE of the second: CQEs before, the
//                    waitv's res (the index), the wake's res.
//  waitv-* refusals  nr-zero, nr-129, value-differs, reserved (futex_waitv
//                    __reserved set), fd-set (sqe->fd 1): the waitv's res.
AIOH_URING_CHOICE_SCENARIO(uring_futex, 16, op, "wait-wake", "the futex request and its case",
                           "wait-wake", "wait-wake-syscall", "wake-one-of-two", "wake-mask-miss", "wake-none",
                           "wait-cancel", "wait-value-differs", "wait-mask-zero", "wait-unknown-flag", "wait-size-u8",
                           "wait-size-u64", "wait-len-set", "wait-value-too-big", "waitv-wake", "waitv-nr-zero",
                           "waitv-nr-129", "waitv-value-differs", "waitv-reserved", "waitv-fd-set") {
  alignas(8) static uint32_t word[2] = {0, 0};
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto res_of = [&](const std::vector<RawCqe>& v, uint64_t tag) {
    const RawCqe* c = find_tag(v, tag);
    if (!c) ctx.broken("no CQE for tag " + std::to_string(tag));
    ctx.observe(IoUringBackend::res_outcome(c->res));
  };
  const uint32_t u32p = kSizeU32 | kPrivate;

  if (op == "wait-wake" || op == "wait-wake-syscall" || op == "wait-cancel") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWait, &word[0], 0, kBitsetAll, u32p); });
    value(ready_within(be, 100));
    if (op == "wait-wake") {
      submit_one(ctx, be, 2, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWake, &word[0], 1, kBitsetAll, u32p); });
      auto v = reap(ctx, be, 2);
      res_of(v, 1);
      res_of(v, 2);
    } else if (op == "wait-wake-syscall") {
      long n = syscall(SYS_futex, &word[0], FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
      value(n);
      res_of(reap(ctx, be, 1), 1);
    } else {
      submit_one(ctx, be, 2, [&](io_uring_sqe* s) { io_uring_prep_cancel64(s, 1, 0); });
      auto v = reap(ctx, be, 2);
      res_of(v, 1);
      res_of(v, 2);
    }
  } else if (op == "wake-one-of-two") {
    for (uint64_t tag : {1, 2})
      submit_one(ctx, be, tag, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWait, &word[0], 0, kBitsetAll, u32p); });
    submit_one(ctx, be, 3, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWake, &word[0], 1, kBitsetAll, u32p); });
    auto v = reap(ctx, be, 2);  // the wake and one wait
    res_of(v, 3);
    value(ready_within(be, 100));
    // The other waiter is woken so the ring tears down with nothing queued.
    syscall(SYS_futex, &word[0], FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  } else if (op == "wake-mask-miss") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWait, &word[0], 0, 0x1, u32p); });
    submit_one(ctx, be, 2, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWake, &word[0], 1, 0x2, u32p); });
    res_of(reap(ctx, be, 1), 2);
    value(ready_within(be, 100));
    syscall(SYS_futex, &word[0], FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  } else if (op == "wake-none") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWake, &word[0], 1, kBitsetAll, u32p); });
    res_of(reap(ctx, be, 1), 1);
  } else if (op.rfind("wait-", 0) == 0) {
    uint64_t val = 0, mask = kBitsetAll;
    uint32_t flags = u32p;
    unsigned len = 0;
    if (op == "wait-value-differs") word[0] = 1;
    if (op == "wait-mask-zero") mask = 0;
    if (op == "wait-unknown-flag") flags |= kUnknownBit;
    if (op == "wait-size-u8") flags = kSizeU8 | kPrivate;
    if (op == "wait-size-u64") flags = kSizeU64 | kPrivate;
    if (op == "wait-len-set") len = 1;
    if (op == "wait-value-too-big") val = uint64_t{1} << 32;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      prep_futex(s, kOpFutexWait, &word[0], val, mask, flags);
      s->len = len;
    });
    res_of(reap(ctx, be, 1), 1);
  } else {  // waitv-*
    futex_waitv v[2] = {};
    for (int i = 0; i < 2; ++i) {
      v[i].val = 0;
      v[i].uaddr = reinterpret_cast<uintptr_t>(&word[i]);
      v[i].flags = u32p;
    }
    unsigned nr = 2;
    if (op == "waitv-nr-zero") nr = 0;
    if (op == "waitv-value-differs") word[1] = 1;
    if (op == "waitv-reserved") v[1].__reserved = 1;
    std::vector<futex_waitv> big;
    futex_waitv* vp = v;
    if (op == "waitv-nr-129") {
      // 129 entries on 129 distinct words, each valid alone.
      static uint32_t words[129];
      big.resize(129);
      for (unsigned i = 0; i < 129; ++i) big[i] = {0, reinterpret_cast<uintptr_t>(&words[i]), u32p, 0};
      vp = big.data();
      nr = 129;
    }
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      prep_waitv(s, vp, nr);
      if (op == "waitv-fd-set") s->fd = 1;
    });
    if (op == "waitv-wake") {
      value(ready_within(be, 100));
      submit_one(ctx, be, 2, [&](io_uring_sqe* s) { prep_futex(s, kOpFutexWake, &word[1], 1, kBitsetAll, u32p); });
      auto c = reap(ctx, be, 2);
      res_of(c, 1);
      res_of(c, 2);
    } else {
      res_of(reap(ctx, be, 1), 1);
    }
  }
}

}  // namespace
}  // namespace aioh
