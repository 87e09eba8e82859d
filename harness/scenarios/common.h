// Building blocks the shared scenarios use: set up or give up, submit and
// observe, reap and observe in tag order, verify data, make a request that
// stays pending. Each step observes exactly what the table expects to see.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "pattern.h"
#include "scenario.h"
#include "system/child.h"
#include "system/settings.h"

namespace aioh::scn {

// An interface call that may kill its caller (a seccomp SIGSYS, a crash),
// made in a forked child (system/child.h) so the case survives to observe
// it: the call's outcome in `phase`, or, when a signal ended the child, the
// signal as the observed value ("SIGSYS@setup") with *signal set; nullopt
// when the child neither answered nor died of a signal.
inline std::optional<Outcome> outcome_in_child(const std::function<Outcome()>& call, Phase phase, int* signal) {
  struct Wire {
    bool is_error;
    int err;
    int64_t value;
    Channel channel;
  };
  *signal = 0;
  auto c = system::run_in_child([&] {
    Outcome o = call();
    Wire w{o.is_error, o.err, o.value, o.channel};
    return std::string(reinterpret_cast<const char*>(&w), sizeof w);
  }, 0);
  if (c.signal) {
    *signal = c.signal;
    const char* abbrev = sigabbrev_np(c.signal);
    return Outcome::ok(c.signal, Channel::ret, phase, abbrev ? std::string("SIG") + abbrev : "");
  }
  if (c.out.size() != sizeof(Wire)) return std::nullopt;
  Wire w;
  memcpy(&w, c.out.data(), sizeof w);
  return w.is_error ? Outcome::error(w.err, w.channel, phase) : Outcome::ok(w.value, w.channel, phase);
}

// One write of `text` to a /proc/sys file as an Outcome in phase setup: the
// open's or the write's errno, else 0 on `ok_channel`.
inline Outcome write_proc_file(const char* path, Channel ok_channel, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Outcome::error(errno, Channel::errno_, Phase::setup);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  return n < 0 ? Outcome::error(err, Channel::errno_, Phase::setup) : Outcome::ok(0, ok_channel, Phase::setup);
}

// `fn`'s value computed in a forked child (system::run_in_child, no
// deadline): what a call answers from another process. The child _exits
// once it answered, so it tears nothing down itself (its exit does);
// nullopt when it died before answering.
template <class T>
std::optional<T> value_in_child(const std::function<T()>& fn) {
  static_assert(std::is_trivially_copyable_v<T>);
  system::ChildOutput c = system::run_in_child(
      [&] {
        T v = fn();
        return std::string(reinterpret_cast<const char*>(&v), sizeof v);
      },
      0);
  if (c.out.size() != sizeof(T)) return std::nullopt;
  T v;
  memcpy(&v, c.out.data(), sizeof v);
  return v;
}

// vm.max_map_count used up by this (per-case) process: single pages mapped
// until mmap fails, alternating protections so neighbours never merge. The
// case skips where the limit is too large to use up. give_back(n) unmaps the
// newest n; release() all the rest (before the case observes anything).
class MappingsUsedUp {
 public:
  explicit MappingsUsedUp(CaseContext& ctx) {
    std::ifstream f("/proc/sys/vm/max_map_count");
    f >> limit_;
    if (limit_ < 0) ctx.broken("cannot read vm.max_map_count");
    if (limit_ > 300000) ctx.skip("vm.max_map_count is " + std::to_string(limit_) + ": too many mappings to use up");
    maps_.reserve(static_cast<size_t>(limit_));
    for (size_t i = 0;; ++i) {
      void* m = mmap(nullptr, 4096, i % 2 ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) break;
      maps_.push_back(m);
    }
  }
  ~MappingsUsedUp() { release(); }
  MappingsUsedUp(const MappingsUsedUp&) = delete;
  MappingsUsedUp& operator=(const MappingsUsedUp&) = delete;
  void give_back(int n) {
    for (int i = 0; i < n && !maps_.empty(); ++i) {
      munmap(maps_.back(), 4096);
      maps_.pop_back();
    }
  }
  // Unmaps the rest; the count made stays for note().
  void release() {
    held_ = std::max(held_, maps_.size());
    for (void* m : maps_) munmap(m, 4096);
    maps_.clear();
  }
  // "vm.max_map_count L: N mappings <what>", N as they were at release().
  std::string note(const std::string& what) const {
    return "vm.max_map_count " + std::to_string(limit_) + ": " + std::to_string(held_) + " mappings " + what;
  }

 private:
  long limit_ = -1;
  std::vector<void*> maps_;
  size_t held_ = 0;
};

// A read or write of `segs` at `offset` with tag 1: one readv/writev of all
// the segments when `vectored`, else a plain read/write of the first.
inline Request rw_request(int fd, int64_t offset, bool is_write, bool vectored, std::vector<iovec> segs) {
  Request r;
  r.tag = 1;
  r.fd = fd;
  r.offset = offset;
  if (vectored) {
    r.op = is_write ? Op::writev : Op::readv;
    r.iov = std::move(segs);
  } else {
    r.op = is_write ? Op::write : Op::read;
    r.buf = segs[0].iov_base;
    r.len = segs[0].iov_len;
  }
  return r;
}

// An fd number that is certainly closed: the lowest free one, opened and
// closed again.
inline int closed_fd() {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd;
}

inline constexpr timespec kReapTimeout{5, 0};

// The largest offset a write can reach on fd's filesystem (its s_maxbytes),
// found as libaio's harness 8.t does: binary search with a 1-byte pwrite;
// the file is truncated back to its size afterwards. -1 if that fails.
inline int64_t fs_max_offset(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return -1;
  int64_t lo = 0, hi = INT64_MAX;
  char c = 0;
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (pwrite(fd, &c, 1, mid) == 1) lo = mid;
    else hi = mid;
  }
  if (ftruncate(fd, st.st_size) != 0) return -1;
  return hi;  // the first offset a 1-byte write is refused at
}

// The offset `from_max` bytes below s_maxbytes, for a request of `count`
// bytes there: broken where s_maxbytes cannot be found, a skip where it is
// INT64_MAX (tmpfs, xfs, btrfs: MAX_LFS_FILESIZE) and the request reaches
// past it, since pos + count then overflows and fs/read_write.c
// rw_verify_area() refuses with EINVAL before any EFBIG check.
inline int64_t offset_below_max(CaseContext& ctx, int fd, int64_t from_max, size_t count) {
  int64_t m = fs_max_offset(fd);
  if (m < 0) ctx.broken("cannot find the filesystem's maximum file size");
  if (m == INT64_MAX && count > static_cast<uint64_t>(from_max))
    ctx.skip("the scratch filesystem's maximum file size is the largest offset: no EFBIG before the offset overflows");
  return m - from_max;
}

// A plain read request.
inline Request read_req(int fd, void* buf, size_t len, int64_t offset, uint64_t tag) {
  return make_request(Op::read, fd, buf, len, offset, tag);
}

// Setup is not what these scenarios test: a refusal makes the case broken.
// Another run (or a row running beside this one) may have a global setting
// changed for a moment - fs.aio-max-nr lowered (EAGAIN), io_uring disabled
// (EPERM) - and every such change is made and undone under the settings lock
// (system/settings.h). So a refused setup is tried once more holding that
// lock, where no such change is in force; only a second refusal is broken.
inline void setup_or_broken(CaseContext& ctx, SetupParams p = {}) {
  Outcome o = ctx.backend().setup(p);
  if (!o.is_error) return;
  std::string waited;
  const std::string refused =
      system::acquire_settings_lock("a setup that failed with " + o.str(), &waited, system::kCaseLockWait);
  if (!refused.empty()) ctx.broken("setup failed: " + o.str() + "; " + refused);
  Outcome again = ctx.backend().setup(p);
  system::release_settings_lock();
  if (again.is_error) ctx.broken("setup failed: " + o.str() + ", and again under the settings lock: " + again.str());
  if (!waited.empty()) ctx.note("setup failed with " + o.str() + "; it worked under the settings lock (" + waited + ")");
}

// Submits the batch and observes the submit outcome; returns how many the
// interface accepted (0 on an error).
inline int64_t submit_observed(CaseContext& ctx, std::vector<Request*> reqs) {
  Outcome o = ctx.backend().submit(std::move(reqs));
  ctx.observe(o);
  return o.is_error ? 0 : o.value;
}

// Waits for n completions and observes each one in tag order. A wait error
// or a short count is observed too, so a lost completion shows up.
inline std::map<uint64_t, Completion> reap_observed(CaseContext& ctx, unsigned n,
                                                    timespec timeout = kReapTimeout) {
  std::map<uint64_t, Completion> got;
  std::vector<Completion> out;
  Outcome w = ctx.backend().wait(n, n, timeout, out);
  for (auto& c : out) got[c.tag] = c;
  if (w.is_error || got.size() < n) {
    ctx.observe(w);
    return got;
  }
  for (auto& [_, c] : got) ctx.observe(c.result);
  return got;
}

// The read that was reported successful returned the file's bytes.
inline void verify_read(CaseContext& ctx, const Completion& c, const void* buf, uint64_t offset) {
  if (c.result.is_error || c.result.value <= 0) return;
  std::string bad = verify_buffer(buf, static_cast<size_t>(c.result.value), kFileSeed, offset);
  ctx.check(bad.empty(), bad);
}

// A pipe whose read end never has data until the scenario writes to it.
struct Pipe {
  int rd = -1, wr = -1;
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
      rd = p[0];
      wr = p[1];
    }
  }
  ~Pipe() {
    if (rd >= 0) close(rd);
    if (wr >= 0) close(wr);
  }
  void feed(size_t n = 1) {
    std::string s(n, 'x');
    (void)!write(wr, s.data(), s.size());
  }
};

// A request that stays pending on an empty pipe: a read where the interface
// parks it, IOCB_CMD_POLL where a pipe read would block inside submit.
inline Request pending_request(CaseContext& ctx, Pipe& p, void* buf, uint64_t tag) {
  Request r;
  r.tag = tag;
  r.fd = p.rd;
  if (ctx.backend().traits().pipe_read_blocks_submit) {
    r.op = Op::poll;
    r.poll_events = POLLIN;
  } else {
    r.op = Op::read;
    r.buf = buf;
    r.len = 1;
  }
  return r;
}

}  // namespace aioh::scn
