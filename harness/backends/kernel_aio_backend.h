// The kernel AIO backend: the io_* system calls through syscall(2), no
// library in between. Convention: -1 and errno. Exposed so kernel-AIO-only
// scenarios can pass what no wrapper can (a wrong sigsetsize or a bad
// struct __aio_sigset pointer to io_pgetevents).
#pragma once

#include <cstddef>

#include "aio_iocb.h"

namespace aioh {

class KernelAioBackend final : public AioBackendBase {
 public:
  ~KernelAioBackend() override { teardown(); }
  std::string_view name() const override { return "kernel-aio"; }

  AIOH_AIO_RAW_CALLS(override);

  // io_pgetevents with an explicit struct __aio_sigset size.
  Outcome raw_pgetevents_sized(AioContext ctx, long min_nr, long nr,
                               KIoEvent* events, timespec* timeout,
                               const sigset_t* sigmask, size_t sigsetsize);
  // io_pgetevents with any usig pointer (NULL, unmapped, ...) as its sixth
  // argument, for the checks no wrapper lets through.
  Outcome raw_pgetevents_usig(AioContext ctx, long min_nr, long nr,
                              KIoEvent* events, timespec* timeout,
                              const void* usig);
};

}  // namespace aioh
