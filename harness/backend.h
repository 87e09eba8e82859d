// The one small interface every async I/O backend implements, and the
// registry of interfaces. A scenario is written once against it; each backend
// turns its interface's own calls and conventions into normalised Outcomes,
// and records a convention breach (for example libaio touching errno, or a
// raw syscall returning -EINVAL instead of -1) in its ConventionLog, which
// fails the case. Each adapter registers itself by name (AIOH_BACKEND, the
// way fio's ioengines do): the interface list of the command line, the case
// tables, the probe and the vocabulary is the registry's, in catalog order.
#pragma once

#include <sys/uio.h>
#include <time.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "environment.h"
#include "outcome.h"

namespace aioh {

enum class Op { read, write, readv, writev, fsync, fdatasync, poll, nop };

// One I/O request as the scenario describes it. The backend builds its own
// control block (iocb, aiocb, sqe) from it and keeps that alive until the
// request completes or the backend is torn down.
struct Request {
  Op op = Op::nop;
  int fd = -1;
  void* buf = nullptr;        // read/write
  size_t len = 0;             // read/write (nbytes)
  std::vector<iovec> iov;     // readv/writev
  int64_t offset = 0;
  int rw_flags = 0;           // RWF_* where the interface has them
  short poll_events = 0;      // Op::poll
  int reqprio = 0;            // aio_reqprio / IOCB_FLAG_IOPRIO / sqe->ioprio
  int resfd = -1;             // kernel AIO IOCB_FLAG_RESFD eventfd
  int raw_opcode = -1;        // >= 0: put this raw value in the opcode field
  uint64_t tag = 0;           // chosen by the scenario, echoed in Completion
};

// The one request builder: a read/write-shaped request (scenarios and tests
// set the rest field by field).
inline Request make_request(Op op, int fd, void* buf, size_t len, int64_t offset, uint64_t tag) {
  Request r;
  r.op = op;
  r.fd = fd;
  r.buf = buf;
  r.len = len;
  r.offset = offset;
  r.tag = tag;
  return r;
}

struct Completion {
  uint64_t tag = 0;
  Outcome result;             // phase completion; channel per interface
};

struct SetupParams {
  unsigned entries = 64;      // io_setup nr_events / io_uring entries
  unsigned flags = 0;         // io_uring setup flags
  std::optional<unsigned> cq_entries;  // IORING_SETUP_CQSIZE
};

// Convention breaches seen by a backend during one case.
struct ConventionLog {
  std::vector<std::string> breaches;
  void breach(std::string what) { breaches.push_back(std::move(what)); }
};

// What a backend can do on this machine, as facts a scenario can branch on
// (never decided from the call under test: see probe.h for availability).
struct BackendTraits {
  bool vectored = false;          // readv/writev
  bool rw_flags = false;          // per-request RWF_* flags
  bool poll = false;              // Op::poll
  bool nop = false;               // Op::nop
  bool cancel_running_file_io = false;
  // A read on an empty pipe blocks inside submit (kernel AIO: pipes are not
  // async) rather than staying pending; scenarios then use Op::poll.
  bool pipe_read_blocks_submit = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  virtual BackendTraits traits() const = 0;

  // Create the context/ring (posix-aio: aio_init). phase setup.
  virtual Outcome setup(const SetupParams& p) = 0;
  // Submit the requests as one batch in the interface's natural way
  // (io_submit, io_uring_submit, aio_read/aio_write or lio_listio LIO_NOWAIT
  // for more than one). phase submit; value = number accepted.
  virtual Outcome submit(std::vector<Request*> reqs) = 0;
  // Wait for at least min_nr completions (at most max_nr returned), or until
  // the timeout (nullopt: no timeout). phase wait; value = count returned.
  // A timeout with fewer than min_nr is reported the interface's way:
  // kernel AIO value 0..min_nr-1, io_uring ETIME, posix-aio EAGAIN.
  virtual Outcome wait(unsigned min_nr, unsigned max_nr,
                       std::optional<timespec> timeout,
                       std::vector<Completion>& out) = 0;
  // Cancel one submitted request. phase cancel. kernel AIO: io_cancel's
  // answer; io_uring: the IORING_OP_ASYNC_CANCEL cqe->res (the target's own
  // completion stays queued for wait()); posix-aio: AIO_CANCELED /
  // AIO_NOTCANCELED / AIO_ALLDONE as sym.
  virtual Outcome cancel(const Request& r) = 0;
  // Destroy the context/ring. phase teardown. Also run by the destructor.
  virtual Outcome teardown() = 0;

  ConventionLog& conventions() { return conv_; }

 protected:
  ConventionLog conv_;
};

// An adapter's declarations of the calls above, written once so every
// adapter's class states the same signatures (each defines them in its .cc).
#define AIOH_BACKEND_OVERRIDES                                                                               \
  BackendTraits traits() const override;                                                                     \
  Outcome setup(const SetupParams& p) override;                                                              \
  Outcome submit(std::vector<Request*> reqs) override;                                                       \
  Outcome wait(unsigned min_nr, unsigned max_nr, std::optional<timespec> timeout, std::vector<Completion>& out) \
      override;                                                                                              \
  Outcome cancel(const Request& r) override;                                                                 \
  Outcome teardown() override

// One interface as its adapter registers it (AIOH_BACKEND): its name on the
// command line and in ids, its place in the catalog order, how to make its
// backend, and whether it can run here, decided from the probed facts (an
// independent round trip, never the call under test).
struct BackendEntry {
  std::string_view name;
  // Catalog order: interfaces are listed, expanded, numbered (device slots)
  // and reported in it. posix-aio 10, kernel-aio 20, libaio 30, io_uring 40.
  int order = 0;
  std::function<std::unique_ptr<Backend>()> make;
  std::function<InterfaceAvailability(const Environment&)> available;
  // A negative number is a value the interface can return (posix-aio's
  // aio_return -1), not only an errno in disguise: rows may expect one.
  bool negative_values = false;
};

// Registers an interface (at static-init time through AIOH_BACKEND). A
// second interface of the same name is a programming error: it aborts.
void register_backend(BackendEntry entry);
// Removes an interface; for tests that register a test-only one for a while.
void unregister_backend(std::string_view name);
// Every registered interface, in catalog order (order, then name).
const std::vector<BackendEntry>& backend_entries();
// Their names, in the same order.
std::vector<std::string> interface_names();
bool is_interface(std::string_view name);
// The registered entry; nullptr when no interface of that name is registered.
const BackendEntry* find_backend(std::string_view name);
// The interface's position in catalog order (0-based); -1 when unknown.
int interface_index(std::string_view name);
// nullptr when no interface of that name is registered.
std::unique_ptr<Backend> make_backend(std::string_view name);
// Each registered interface's availability from the facts already in env.
void record_interface_availability(Environment& env);

template <class B>
std::unique_ptr<Backend> make_as() {
  return std::make_unique<B>();
}

#define AIOH_BACKEND_CAT2(a, b) a##b
#define AIOH_BACKEND_CAT(a, b) AIOH_BACKEND_CAT2(a, b)
// Registers an adapter at static-init time, with designated initializers:
//   AIOH_BACKEND("libaio", .order = 30, .make = aioh::make_as<LibaioBackend>,
//                .available = [](const Environment& env) { ... });
#define AIOH_BACKEND(iface, ...)                                                  \
  static const bool AIOH_BACKEND_CAT(aioh_backend_registered_, __LINE__) = [] {  \
    ::aioh::register_backend(::aioh::BackendEntry{.name = iface, __VA_ARGS__});   \
    return true;                                                                  \
  }()

}  // namespace aioh
