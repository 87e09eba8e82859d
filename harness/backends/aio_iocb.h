// The parts kernel AIO and libaio share: the kernel's iocb/io_event ABI as our
// own types (libaio.h and linux/aio_abi.h both define `struct iocb`, so no
// file may include both), the Request -> iocb builder, and a base backend
// whose setup/submit/wait/cancel/teardown are written once over six "raw"
// calls. Each concrete backend implements the raw calls with its interface's
// own entry points and checks its own convention; interface-specific
// scenarios reach the raw calls to pass arguments a Request cannot express
// (NULL iocb pointers, garbage contexts, signal masks).
#pragma once

#include <signal.h>
#include <time.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "backend.h"

namespace aioh {

// include/uapi/linux/aio_abi.h, little-endian layout; aio_iocb.cc
// static_asserts it against the system header.
struct KIocb {
  uint64_t aio_data = 0;
  uint32_t aio_key = 0;
  int32_t aio_rw_flags = 0;
  uint16_t aio_lio_opcode = 0;
  int16_t aio_reqprio = 0;
  uint32_t aio_fildes = 0;
  uint64_t aio_buf = 0;
  uint64_t aio_nbytes = 0;
  int64_t aio_offset = 0;
  uint64_t aio_reserved2 = 0;
  uint32_t aio_flags = 0;
  uint32_t aio_resfd = 0;
};

struct KIoEvent {
  uint64_t data = 0;
  uint64_t obj = 0;
  int64_t res = 0;
  int64_t res2 = 0;
};

// Opcodes and flags under their kernel names (aio_abi.h values).
inline constexpr uint16_t kIocbCmdPread = 0, kIocbCmdPwrite = 1,
                          kIocbCmdFsync = 2, kIocbCmdFdsync = 3,
                          kIocbCmdPoll = 5, kIocbCmdNoop = 6,
                          kIocbCmdPreadv = 7, kIocbCmdPwritev = 8;
inline constexpr uint32_t kIocbFlagResfd = 1u << 0, kIocbFlagIoprio = 1u << 1;

// aio_context_t: the user address of the completion ring.
using AioContext = unsigned long;

// The mapped completion ring header (fs/aio.c struct aio_ring), which libaio
// reads in user space.
struct AioRingHeader {
  unsigned id, nr, head, tail, magic, compat_features, incompat_features,
      header_length;
};
inline constexpr unsigned kAioRingMagic = 0xa10a10a1;

// Fills `cb` from `r`. `iov` must outlive the submission (the kernel reads
// it during io_submit).
void build_iocb(const Request& r, const std::vector<iovec>& iov, KIocb& cb);

// The io_* calls of kernel AIO, one virtual each: SPEC is `= 0` in
// AioBackendBase and `override` in the kernel-aio and libaio adapters.
#define AIOH_AIO_RAW_CALLS(SPEC)                                                                              \
  virtual Outcome raw_setup(long nr_events, AioContext* ctxp) SPEC;                                          \
  virtual Outcome raw_destroy(AioContext ctx) SPEC;                                                          \
  virtual Outcome raw_submit(AioContext ctx, long nr, KIocb** iocbs) SPEC;                                   \
  virtual Outcome raw_getevents(AioContext ctx, long min_nr, long nr, KIoEvent* events, timespec* timeout) SPEC; \
  virtual Outcome raw_pgetevents(AioContext ctx, long min_nr, long nr, KIoEvent* events, timespec* timeout,   \
                                 const sigset_t* sigmask) SPEC;                                              \
  virtual Outcome raw_cancel(AioContext ctx, KIocb* iocb, KIoEvent* ev) SPEC

class AioBackendBase : public Backend {
 public:
  AIOH_BACKEND_OVERRIDES;

  // One call each, convention checked, Outcome in the call's phase; each
  // AIO adapter declares them with AIOH_AIO_RAW_CALLS(override). In
  // raw_pgetevents a sigmask nullptr means no mask change (the call then
  // acts as io_getevents).
  AIOH_AIO_RAW_CALLS(= 0);

  AioContext context() const { return ctx_; }
  bool live() const { return live_; }
  // Forget the context without destroying it (a scenario destroyed it raw).
  void forget_context() { live_ = false; }
  // The iocb built for `tag` by the last submit() that carried it, or null.
  KIocb* iocb_of(uint64_t tag);
  static Completion to_completion(const KIoEvent& ev);

 protected:
  AioContext ctx_ = 0;
  bool live_ = false;

 private:
  struct Slot {
    KIocb cb;
    std::vector<iovec> iov;
  };
  std::map<uint64_t, std::unique_ptr<Slot>> slots_;
  // Slots replaced by a later submit of the same tag stay alive until
  // teardown: the kernel may still hold the old request.
  std::vector<std::unique_ptr<Slot>> retired_;
};

// The concrete backend under a scenario, or null for another interface.
AioBackendBase* as_aio_backend(Backend& be);

}  // namespace aioh
