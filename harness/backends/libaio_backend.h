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

  AIOH_AIO_RAW_CALLS(override);
};

}  // namespace aioh
