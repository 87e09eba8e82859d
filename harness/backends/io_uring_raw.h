// A ring driven by the raw io_uring_setup(2)/io_uring_enter(2) syscalls, for
// the setup modes liburing 2.3 cannot drive: IORING_SETUP_NO_MMAP (the rings
// live in memory the caller provides, sq_off/cq_off.user_addr, 6.5),
// IORING_SETUP_NO_SQARRAY (no SQ index array, 6.6: liburing 2.3 would write
// its array at offset 0, over the SQ head), IORING_SETUP_REGISTERED_FD_ONLY
// (setup returns a registered ring index, not an fd, 6.5). Used by the setup
// scenarios and by the probe that decides io_uring.setup.NO_MMAP. The raw
// calls return -1 and set errno (syscall(2)); callers turn that into their
// own convention. Header-only, no liburing state involved.
#pragma once

#include <liburing.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

namespace aioh::rawring {

inline long setup(unsigned entries, io_uring_params* p) {
  return syscall(__NR_io_uring_setup, entries, p);
}
inline long enter(unsigned fd, unsigned to_submit, unsigned min_complete, unsigned flags,
                  const void* arg = nullptr, size_t argsz = 0) {
  return syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
}
inline long reg(unsigned fd, unsigned opcode, const void* arg, unsigned nr_args) {
  return syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
}

// sq_off.user_addr / cq_off.user_addr (6.5) are the last 64-bit word of the
// offset structs, `resv2` in headers older than 6.5.
inline uint64_t& sq_user_addr(io_uring_params& p) {
  return *reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(&p.sq_off) + sizeof p.sq_off - 8);
}
inline uint64_t& cq_user_addr(io_uring_params& p) {
  return *reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(&p.cq_off) + sizeof p.cq_off - 8);
}

struct Ring {
  long fd = -1;                 // a ring fd, or with REGISTERED_FD_ONLY a registered index
  bool registered = false;      // fd is a registered ring index
  int err = 0;                  // errno of the failed step
  io_uring_params p{};
  // Memory: the caller's (NO_MMAP) or the kernel's mappings.
  void* ring_mem = MAP_FAILED;  // io_rings (SQ and CQ ring heads, CQEs, SQ array)
  size_t ring_len = 0;
  void* sqe_mem = MAP_FAILED;
  size_t sqe_len = 0;
  bool user_mem = false;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { close_all(); }

  void close_all() {
    if (ring_mem != MAP_FAILED) munmap(ring_mem, ring_len);
    if (sqe_mem != MAP_FAILED && sqe_mem != ring_mem) munmap(sqe_mem, sqe_len);
    ring_mem = sqe_mem = MAP_FAILED;
    if (fd >= 0 && !registered) close(static_cast<int>(fd));
    fd = -1;
  }

  // io_uring_setup(entries, p) with `flags`; with NO_MMAP the rings go into
  // `mem_pages` pages each of anonymous memory this object owns (addr 0:
  // none is given, to see the kernel refuse). Returns 0, or -1 with err set.
  int create(unsigned entries, unsigned flags, unsigned mem_pages = 1, bool give_memory = true) {
    p = io_uring_params{};
    p.flags = flags;
    if (flags & IORING_SETUP_NO_MMAP) {
      user_mem = true;
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      ring_len = sqe_len = mem_pages * page;
      ring_mem = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      sqe_mem = mmap(nullptr, sqe_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (ring_mem == MAP_FAILED || sqe_mem == MAP_FAILED) {
        err = errno;
        return -1;
      }
      if (give_memory) {
        sq_user_addr(p) = reinterpret_cast<uintptr_t>(sqe_mem);
        cq_user_addr(p) = reinterpret_cast<uintptr_t>(ring_mem);
      }
    }
    fd = setup(entries, &p);
    if (fd < 0) {
      err = errno;
      return -1;
    }
    registered = flags & IORING_SETUP_REGISTERED_FD_ONLY;
    if (!user_mem) return map();
    return 0;
  }

  // The kernel's rings mapped into this process (IORING_OFF_SQ_RING covers
  // the CQ ring too: IORING_FEAT_SINGLE_MMAP, 5.4).
  int map() {
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    if (p.flags & IORING_SETUP_NO_SQARRAY) sq_size = p.sq_off.flags + sizeof(unsigned);
    const size_t cqe_size = (p.flags & IORING_SETUP_CQE32) ? 32 : 16;
    size_t cq_size = p.cq_off.cqes + p.cq_entries * cqe_size;
    ring_len = sq_size > cq_size ? sq_size : cq_size;
    ring_mem = mmap(nullptr, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    static_cast<int>(fd), IORING_OFF_SQ_RING);
    if (ring_mem == MAP_FAILED) {
      err = errno;
      return -1;
    }
    sqe_len = p.sq_entries * ((p.flags & IORING_SETUP_SQE128) ? 128 : 64);
    sqe_mem = mmap(nullptr, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   static_cast<int>(fd), IORING_OFF_SQES);
    if (sqe_mem == MAP_FAILED) {
      err = errno;
      return -1;
    }
    return 0;
  }

  unsigned* u32(uint32_t off) { return reinterpret_cast<unsigned*>(static_cast<char*>(ring_mem) + off); }

  // Queues one NOP tagged `tag` (the SQE index array only when the ring has
  // one). Returns false when the SQ is full.
  bool queue_nop(uint64_t tag) {
    std::atomic_ref<unsigned> head(*u32(p.sq_off.head));
    unsigned tail = *u32(p.sq_off.tail);
    const unsigned mask = *u32(p.sq_off.ring_mask);
    if (tail - head.load(std::memory_order_acquire) >= p.sq_entries) return false;
    const unsigned idx = tail & mask;
    const size_t sqe_size = (p.flags & IORING_SETUP_SQE128) ? 128 : 64;
    auto* s = reinterpret_cast<io_uring_sqe*>(static_cast<char*>(sqe_mem) + idx * sqe_size);
    std::memset(s, 0, sqe_size);
    s->opcode = IORING_OP_NOP;
    s->user_data = tag;
    if (!(p.flags & IORING_SETUP_NO_SQARRAY)) u32(p.sq_off.array)[idx] = idx;
    std::atomic_ref<unsigned>(*u32(p.sq_off.tail)).store(tail + 1, std::memory_order_release);
    return true;
  }

  // io_uring_enter on this ring (the registered index when there is one).
  long enter_ring(unsigned to_submit, unsigned min_complete, unsigned flags) {
    if (registered) flags |= IORING_ENTER_REGISTERED_RING;
    return enter(static_cast<unsigned>(fd), to_submit, min_complete, flags);
  }

  // Pops one CQE into (tag, res); false when the CQ ring is empty.
  bool pop(uint64_t& tag, int32_t& res) {
    std::atomic_ref<unsigned> tail(*u32(p.cq_off.tail));
    unsigned head = *u32(p.cq_off.head);
    if (head == tail.load(std::memory_order_acquire)) return false;
    const unsigned mask = *u32(p.cq_off.ring_mask);
    const size_t cqe_size = (p.flags & IORING_SETUP_CQE32) ? 32 : 16;
    auto* c = reinterpret_cast<io_uring_cqe*>(static_cast<char*>(ring_mem) + p.cq_off.cqes +
                                              (head & mask) * cqe_size);
    tag = c->user_data;
    res = c->res;
    std::atomic_ref<unsigned>(*u32(p.cq_off.head)).store(head + 1, std::memory_order_release);
    return true;
  }
};

}  // namespace aioh::rawring
