// The libaio backend: libaio's io_setup/io_submit/io_getevents/
// io_pgetevents/io_cancel/io_destroy. Convention: the negated errno is
// returned and errno is left untouched (libaio's syscall.h saves and
// restores errno around syscall(2)); a breach of either is logged. Exposed
// so libaio-only scenarios can reach its user-space fast paths.
#pragma once

#include "aio_iocb.h"

namespace aioh {

class LibaioBackend final : public AioBackendBase {
 public:
  ~LibaioBackend() override { teardown(); }
  std::string_view name() const override { return "libaio"; }

  Outcome raw_setup(long nr_events, AioContext* ctxp) override;
  Outcome raw_destroy(AioContext ctx) override;
  Outcome raw_submit(AioContext ctx, long nr, KIocb** iocbs) override;
  Outcome raw_getevents(AioContext ctx, long min_nr, long nr, KIoEvent* events,
                        timespec* timeout) override;
  Outcome raw_pgetevents(AioContext ctx, long min_nr, long nr,
                         KIoEvent* events, timespec* timeout,
                         const sigset_t* sigmask) override;
  Outcome raw_cancel(AioContext ctx, KIocb* iocb, KIoEvent* ev) override;
};

}  // namespace aioh
