// The glibc POSIX AIO backend as a concrete class, so posix-aio-only
// scenarios (scenarios/posix_*.cc) can reach what the generic Request cannot
// describe: the aioinit given to aio_init, per-request sigevents, lio_listio
// modes and list notifications, aio_fsync's raw op, and the aiocb glibc
// holds for a tag (for aio_error/aio_return/aio_cancel/aio_suspend called
// directly). Every call made through it is checked against the glibc
// convention (-1 and errno; aio_error/aio_return leave errno alone).
#pragma once

#include <aio.h>
#include <signal.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "backend.h"

namespace aioh {

class PosixAioBackend final : public Backend {
 public:
  PosixAioBackend();
  ~PosixAioBackend() override;

  std::string_view name() const override { return "posix-aio"; }
  AIOH_BACKEND_OVERRIDES;

  // ---- for posix-aio-only scenarios ----
  // The aioinit the next setup() hands to aio_init (glibc honours it only
  // before its request pool exists, i.e. before the first request).
  void set_aioinit(const aioinit& ai) { init_ = ai; }
  const aioinit& aioinit_used() const { return init_; }
  // A sigevent put into the aiocb of the request with this tag when it is
  // submitted (default SIGEV_NONE).
  void set_sigevent(uint64_t tag, const sigevent& sev) { sev_[tag] = sev; }
  // lio_listio(mode, ...) over the requests (Op::nop -> LIO_NOP, raw_opcode
  // as given); list_sev is the list notification. value = nent on success.
  // Members stay tracked even when lio_listio fails: glibc leaves each
  // member's status in its aiocb, which wait()/status() then report.
  Outcome submit_listio(int mode, std::vector<Request*> reqs,
                        sigevent* list_sev = nullptr);
  // aio_fsync(op, ...) with any op value. phase submit; value 1 on success.
  Outcome submit_fsync(Request* r, int op);
  // The aiocb glibc holds for a submitted tag (nullptr if none).
  aiocb* control_block(uint64_t tag);
  // aio_error()/aio_return() on any aiocb, convention-checked, not marking
  // the request reaped: EINPROGRESS/EBADF.../0 on Channel::aio_error and the
  // value (-1 for a failed request) on Channel::aio_return; phase completion.
  // A -1 with errno set from either (an invalid aiocb) is Channel::errno_.
  Outcome error_of(const aiocb* cb);
  Outcome return_of(aiocb* cb);
  // aio_suspend on a list (NULL entries allowed) with a raw timeout.
  // 0@wait, or the errno @wait.
  Outcome suspend(const std::vector<const aiocb*>& list, int nent,
                  const timespec* timeout);
  // aio_cancel(fd, cb) with any fd/aiocb (cb may be nullptr: all on fd).
  Outcome cancel_raw(int fd, aiocb* cb);
  // Requests submitted and not yet reaped by wait().
  size_t outstanding() const;
  // How long teardown waits for requests that cannot be canceled.
  void set_teardown_bound_ms(int ms) { teardown_ms_ = ms; }

 private:
  struct Entry {
    aiocb cb{};
    Op op = Op::nop;
    size_t len = 0;
    bool tracked = false;  // counts for wait(): submitted and not reaped
  };
  Entry* fresh_entry(const Request& r);
  void fill(Entry& e, const Request& r);
  Outcome reap(Entry& e);

  aioinit init_{};
  std::map<uint64_t, std::unique_ptr<Entry>> entries_;
  std::vector<uint64_t> order_;  // submission order of tracked tags
  std::map<uint64_t, sigevent> sev_;
  // Entries glibc may still touch after teardown gave up on them, or that
  // were replaced while in progress: never freed.
  std::vector<std::unique_ptr<Entry>> abandoned_;
  int teardown_ms_ = 2000;
  bool torn_down_ = false;
};

}  // namespace aioh
