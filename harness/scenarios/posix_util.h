// Helpers the posix-aio-only scenario families share: reaching the concrete
// glibc backend, pipes that keep a request pending until the scenario says
// so, collecting one tag's completion, and interrupting a thread exactly
// while it sleeps in futex(2) (glibc's aio_suspend and LIO_WAIT wait there),
// found by reading /proc rather than by sleeping.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "backends/posix_aio_backend.h"
#include "pattern.h"
#include "scenario.h"
#include "scenarios/common.h"
#include "thread_state.h"

namespace aioh::posix {

using scn::closed_fd;

inline PosixAioBackend& backend(CaseContext& ctx) {
  auto* be = dynamic_cast<PosixAioBackend*>(&ctx.backend());
  if (!be) ctx.skip("a glibc POSIX AIO scenario: needs the posix-aio backend");
  return *be;
}

// Every POSIX AIO scenario declares this: setup() reads it.
inline ParamSpec aio_threads_param() {
  return param::optional_integer("aio_threads", "aio_init's aio_threads before the first request (absent: glibc's)",
                                 INT32_MIN, INT32_MAX);
}

// aio_init with the row's aio_threads (if any), then setup().
inline PosixAioBackend& setup(CaseContext& ctx) {
  PosixAioBackend& be = backend(ctx);
  if (ctx.has("aio_threads")) {
    aioinit ai = be.aioinit_used();
    ai.aio_threads = static_cast<int>(ctx.num("aio_threads"));
    be.set_aioinit(ai);
  }
  Outcome o = be.setup(SetupParams{});
  if (o.is_error) ctx.broken("aio_init setup failed: " + o.str());
  ctx.note("aio_init: aio_threads=" + std::to_string(be.aioinit_used().aio_threads) +
           " aio_num=" + std::to_string(be.aioinit_used().aio_num));
  return be;
}

inline Request req(Op op, int fd, void* buf, size_t len, int64_t offset, uint64_t tag) {
  return make_request(op, fd, buf, len, offset, tag);
}

struct Pipe {
  int r = -1, w = -1;
  explicit Pipe(CaseContext& ctx) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
    r = p[0];
    w = p[1];
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  // Writes n pattern bytes (kWriteSeed from stream offset `at`): this is
  // what unblocks a pending read.
  bool feed(size_t n, uint64_t at = 0) const {
    std::vector<uint8_t> b(n);
    fill_pattern(b.data(), n, kWriteSeed, at);
    return write(w, b.data(), n) == static_cast<ssize_t>(n);
  }
};

// Collects completions by tag: wait() hands back whatever finished first, in
// submission order, so completions for other tags are kept for later.
class Reaper {
 public:
  explicit Reaper(PosixAioBackend& be) : be_(be) {}
  // The completion of `tag`, waiting at most `limit_s`; EAGAIN@wait if none.
  Outcome get(uint64_t tag, int limit_s = 5) {
    for (;;) {
      auto it = stash_.find(tag);
      if (it != stash_.end()) {
        Outcome o = it->second;
        stash_.erase(it);
        return o;
      }
      std::vector<Completion> out;
      Outcome w = be_.wait(1, ~0u, timespec{limit_s, 0}, out);
      for (auto& c : out) stash_[c.tag] = c.result;
      if (w.is_error && out.empty()) return w;
    }
  }

 private:
  PosixAioBackend& be_;
  std::map<uint64_t, Outcome> stash_;
};

// Reaps tag 1 and observes how it ended; a read that completed must have
// returned the `seed` pattern from `offset` on (`what` names the bytes).
inline Outcome observe_read_back(CaseContext& ctx, PosixAioBackend& be, const void* buf, uint64_t seed, int64_t offset,
                                 const std::string& what) {
  Reaper reaper(be);
  Outcome c = reaper.get(1);
  ctx.observe(c);
  if (!c.is_error) ctx.check(verify_buffer(buf, static_cast<size_t>(c.value), seed, static_cast<uint64_t>(offset)).empty(), what);
  return c;
}

// Is thread `tid` of this process blocked in futex(2) right now?
inline bool in_futex(pid_t tid) { return threads::blocked_syscall(tid) == SYS_futex; }

// Is some thread of this process blocked in read(2) on `fd` (a glibc
// worker running a request)? Polled, bounded to five seconds.
inline bool worker_in_read(int fd) {
  char want[32];
  snprintf(want, sizeof want, "%d 0x%x ", static_cast<int>(SYS_read), fd);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    char buf[128];
    DIR* d = opendir("/proc/self/task");
    if (!d) return false;
    bool hit = false;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string path = std::string("/proc/self/task/") + e->d_name + "/syscall";
      int f = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (f < 0) continue;
      ssize_t n = read(f, buf, sizeof buf - 1);
      close(f);
      if (n > 0) {
        buf[n] = 0;
        if (strncmp(buf, want, strlen(want)) == 0) hit = true;
      }
    }
    closedir(d);
    if (hit) return true;
    std::this_thread::yield();
  }
  return false;
}

// A one-shot SIGUSR1 handler that counts deliveries.
inline std::atomic<int> g_sigusr1_hits{0};
inline void count_sigusr1(int) { g_sigusr1_hits.fetch_add(1); }

inline void install_sigusr1(bool restart) {
  struct sigaction sa {};
  sa.sa_handler = count_sigusr1;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
}

// Sends SIGUSR1 to `tid` once it sleeps in futex(2), waits until the handler
// ran, then calls `after` (typically: feed the pipe so the I/O completes).
// Bounded: gives up after five seconds and records that it did.
class Interrupter {
 public:
  Interrupter(pid_t tid, std::function<void()> after)
      : th_([this, tid, after = std::move(after)] {
          auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (!in_futex(tid)) {
            if (std::chrono::steady_clock::now() > until) {
              gave_up_ = true;
              after();
              return;
            }
            std::this_thread::yield();
          }
          int before = g_sigusr1_hits.load();
          syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
          while (g_sigusr1_hits.load() == before) {
            if (std::chrono::steady_clock::now() > until) {
              gave_up_ = true;
              break;
            }
            std::this_thread::yield();
          }
          after();
        }) {}
  ~Interrupter() {
    if (th_.joinable()) th_.join();
  }
  void join() {
    if (th_.joinable()) th_.join();
  }
  bool gave_up() const { return gave_up_; }

 private:
  std::atomic<bool> gave_up_{false};
  std::thread th_;
};

// A pattern-filled scratch file of `size` bytes opened O_RDWR.
inline int data_file(CaseContext& ctx, const char* name, size_t size, int flags = O_RDWR) {
  int fd = ctx.scratch_file(name, size, flags);
  if (fd < 0) ctx.broken(std::string("cannot open scratch file ") + name);
  return fd;
}

}  // namespace aioh::posix
