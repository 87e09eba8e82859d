// Fault-aware scenarios: they prepare their files first, then arm the row's
// fault, so only the interface's own calls are counted and failed. Each one
// observes where the fault surfaces (setup, submit, wait or completion),
// checks that a read reported successful returned the file's bytes, that a
// write reported successful reads back intact and a failed one left the file
// as it was, and that every fd the interface opened is closed again after
// teardown (rings, eventfds). The tables say what each interface answers.
// Kernel AIO and libaio may wait through io_pgetevents instead (`wait`):
// libaio's own io_pgetevents() wrapper (0.3.111+) makes that syscall
// whichever syscall its io_getevents() makes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>

#include "backends/aio_iocb.h"
#include "errno_names.h"
#include "faults/fault.h"
#include "scenarios/common.h"
#include "timespec.h"

namespace aioh {
namespace {

int open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) n++;
    closedir(d);
  }
  return n;
}

// Backend::wait through io_pgetevents with an empty signal mask.
Outcome wait_pgetevents(AioBackendBase& be, unsigned n, int64_t ms, std::vector<Completion>& out) {
  std::vector<KIoEvent> evs(n);
  timespec ts = ms_to_timespec(ms);
  sigset_t none;
  sigemptyset(&none);
  Outcome o = be.raw_pgetevents(be.context(), n, n, evs.data(), &ts, &none);
  if (!o.is_error)
    for (int64_t i = 0; i < o.value && i < static_cast<int64_t>(n); ++i) out.push_back(AioBackendBase::to_completion(evs[i]));
  return o;
}

void fault_rw(CaseContext& ctx) {
  std::string op = ctx.str("op");
  bool is_write = op == "write";
  unsigned count = static_cast<unsigned>(ctx.num("count"));
  size_t len = ctx.num("len");
  int64_t offset = ctx.num("offset");
  size_t file_size = ctx.num("file_size");
  int fd = ctx.scratch_file("data", file_size, O_RDWR | (ctx.flag("direct") ? O_DIRECT : 0));
  if (fd < 0) ctx.broken(std::string("cannot open the scratch file: ") + errno_name(errno));
  std::vector<std::unique_ptr<AlignedBuffer>> bufs;
  std::vector<Request> reqs(count);
  std::vector<Request*> ptrs;
  for (unsigned i = 0; i < count; i++) {
    bufs.push_back(std::make_unique<AlignedBuffer>(len));
    int64_t off = offset + static_cast<int64_t>(i * len);
    if (is_write) fill_pattern(bufs[i]->data(), len, kWriteSeed, off);
    reqs[i] = scn::read_req(fd, bufs[i]->data(), len, off, 1 + i);
    if (is_write) reqs[i].op = Op::write;
    if (op == "fsync") {
      reqs[i] = Request{};
      reqs[i].op = Op::fsync;
      reqs[i].fd = fd;
      reqs[i].tag = 1 + i;
    }
    ptrs.push_back(&reqs[i]);
  }
  const bool pgetevents = ctx.str("wait") == "pgetevents";
  AioBackendBase* aio = as_aio_backend(ctx.backend());
  if (pgetevents && !aio) ctx.broken("wait = \"pgetevents\" needs kernel-aio or libaio");
  int fds_before = open_fds();

  faults::arm();
  Backend& be = ctx.backend();
  Outcome s = be.setup({});
  if (s.is_error) {
    faults::disarm();
    ctx.observe(s);
    ctx.check(open_fds() == fds_before, "a failed setup left an fd open");
    return;
  }
  Outcome sub = be.submit(ptrs);
  ctx.observe(sub);
  std::map<uint64_t, Completion> got;
  if (!sub.is_error && sub.value > 0) {
    unsigned n = static_cast<unsigned>(sub.value);
    std::vector<Completion> out;
    int64_t ms = ctx.num("timeout_ms");
    Outcome w = pgetevents ? wait_pgetevents(*aio, n, ms, out) : be.wait(n, n, ms_to_timespec(ms), out);
    for (auto& c : out) got[c.tag] = c;
    if (w.is_error || got.size() < n) ctx.observe(w);
    for (auto& [_, c] : got) ctx.observe(c.result);
  }
  faults::disarm();

  for (unsigned i = 0; i < count; i++) {
    auto it = got.find(1 + i);
    const Request& r = reqs[i];
    if (op == "fsync") continue;
    if (it != got.end() && !it->second.result.is_error) {
      size_t n = static_cast<size_t>(it->second.result.value);
      if (is_write) {
        std::string bad = verify_file(fd, r.offset, n, kWriteSeed);
        ctx.check(bad.empty(), "write " + std::to_string(i) + " reported success but " + bad);
      } else {
        scn::verify_read(ctx, it->second, bufs[i]->data(), r.offset);
      }
    } else if (is_write) {
      // Failed (or never submitted): the file's old bytes are all still there
      // and it did not grow.
      struct stat sb {};
      fstat(fd, &sb);
      if (r.offset >= static_cast<int64_t>(file_size)) {
        ctx.check(sb.st_size <= r.offset, "a failed write past EOF still extended the file to " + std::to_string(sb.st_size));
      } else {
        size_t keep = std::min<size_t>(len, file_size - static_cast<size_t>(r.offset));
        std::string bad = verify_file(fd, r.offset, keep, kFileSeed);
        ctx.check(bad.empty(), "a failed write changed the file: " + bad);
      }
    }
  }
  Outcome t = be.teardown();
  ctx.check(!t.is_error, "teardown failed after the fault: " + t.str());
  ctx.check(open_fds() == fds_before, "fds opened by the interface were not all closed after teardown (" +
                                          std::to_string(open_fds()) + " vs " + std::to_string(fds_before) + ")");
}

}  // namespace
}  // namespace aioh

AIOH_SCENARIO(fault_rw, aioh::param::choice("op", "read", {"read", "write", "fsync"}, "the requests"),
              aioh::param::integer("count", 1, "requests, at consecutive offsets", 1, 256),
              aioh::param::integer("len", 4096, "bytes per request", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 0, "file offset of the first request", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("file_size", 65536, "bytes of the scratch file", 0, aioh::param::kMaxFileSize),
              aioh::param::boolean("direct", false, "open the scratch file with O_DIRECT"),
              aioh::param::integer("timeout_ms", 5000, "how long to wait for the completions", 0, aioh::param::kMaxMs),
              aioh::param::choice("wait", "getevents", {"getevents", "pgetevents"},
                                  "the wait: the backend's own, or io_pgetevents (kernel-aio, libaio)")) {
  aioh::fault_rw(ctx);
}
