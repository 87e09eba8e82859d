// POSIX AIO waiting (area posix-suspend): aio_suspend's timeouts (zero,
// expiring, negative, out-of-range tv_nsec), its list handling (negative and
// zero nent, NULL entries, finished and never-submitted aiocbs), and EINTR
// with and without SA_RESTART. glibc turns every expired or already-past
// timeout into EAGAIN, returns 0 without waiting when any listed aiocb is not
// EINPROGRESS or none is listed, restarts an untimed wait under SA_RESTART,
// and abort()s on a tv_nsec that stays >= 1e9 after it adds the current time
// (an assert in do_aio_misc_wait); that call runs in a forked grandchild so
// the abort is observed rather than suffered. Signals are sent only once the
// waiter sleeps in futex(2), and the I/O is released by feeding a pipe.
#include <poll.h>
#include <sys/wait.h>

#include <cstring>

#include "convention.h"
#include "posix_util.h"
#include "wait_timing.h"

namespace aioh {
namespace {

// aio_suspend with the row's timeout on one pending pipe read, in a
// grandchild that does its own aio_read. Returns {rc, errno} or nullopt when
// the grandchild died (signal number in *sig).
std::optional<std::pair<int, int>> suspend_in_grandchild(const timespec& ts, int* sig) {
  int res[2];
  if (pipe2(res, O_CLOEXEC) != 0) return std::nullopt;
  pid_t pid = fork();
  if (pid == 0) {
    int p[2];
    char b[16];
    int out[2] = {-2, 0};
    if (pipe(p) == 0) {
      aiocb cb;
      std::memset(&cb, 0, sizeof cb);
      cb.aio_fildes = p[0];
      cb.aio_buf = b;
      cb.aio_nbytes = sizeof b;
      if (aio_read(&cb) == 0) {
        const aiocb* l[1] = {&cb};
        errno = 0;
        out[0] = aio_suspend(l, 1, &ts);
        out[1] = errno;
      }
    }
    (void)!write(res[1], out, sizeof out);
    _exit(0);
  }
  close(res[1]);
  std::optional<std::pair<int, int>> r;
  pollfd pfd{res[0], POLLIN, 0};
  int out[2];
  if (pid > 0 && poll(&pfd, 1, 5000) == 1 && read(res[0], out, sizeof out) == sizeof out)
    r = std::make_pair(out[0], out[1]);
  close(res[0]);
  int status = 0;
  if (pid > 0) {
    if (!r) kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) *sig = WTERMSIG(status);
  }
  return r;
}

AIOH_SCENARIO(posix_suspend_timeout, aioh::posix::aio_threads_param(),
              aioh::param::integer("tv_sec", 0, "timeout tv_sec"),
              aioh::param::integer("tv_nsec", 0, "timeout tv_nsec"),
              aioh::param::boolean("isolate", false, "call aio_suspend in a forked grandchild")) {
  auto& be = posix::setup(ctx);
  timespec ts{static_cast<time_t>(ctx.num("tv_sec")), static_cast<long>(ctx.num("tv_nsec"))};
  if (ctx.flag("isolate")) {
    int sig = 0;
    auto r = suspend_in_grandchild(ts, &sig);
    if (!r) {
      const char* name = sig ? sigabbrev_np(sig) : nullptr;
      std::string what = sig ? std::string("SIG") + (name ? name : "?") : "no answer within 5 s";
      ctx.note("aio_suspend in the grandchild ended by " + what);
      ctx.check(false, "aio_suspend did not return (" + what + ")");
      return;
    }
    if (r->first == -2) ctx.broken("grandchild could not set up its aio_read");
    ctx.observe(from_minus1_errno(r->first, r->second ? r->second : kErrnoSentinel,
                                  Phase::wait, be.conventions(), "aio_suspend"));
    return;
  }
  posix::Pipe p(ctx);
  std::vector<uint8_t> buf(16);
  Request r = posix::req(Op::read, p.r, buf.data(), buf.size(), 0, 1);
  if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
  // glibc adds the relative timeout to the clock and normalises once: a
  // negative one is already past (at once), tv_nsec = 1e9 is one second.
  const double want_ms = std::max<double>(0, static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
  timing::Stopwatch sw;
  Outcome s = be.suspend({be.control_block(1)}, 1, &ts);
  timing::observe_wait(ctx, s, sw.ms(), want_ms, false);
  if (!p.feed(buf.size())) ctx.broken("cannot feed");
  posix::Reaper reaper(be);
  ctx.observe(reaper.get(1));
}

// aio_suspend timed: EAGAIN only after its whole timeout, anything else at
// once (nothing to wait for, or something already done).
Outcome timed_suspend(CaseContext& ctx, PosixAioBackend& be, const std::vector<const aiocb*>& list, int nent,
                      const timespec* ts) {
  timing::Stopwatch sw;
  Outcome o = be.suspend(list, nent, ts);
  const double t = ts ? static_cast<double>(ts->tv_sec) * 1e3 + static_cast<double>(ts->tv_nsec) / 1e6 : -1;
  timing::observe_wait(ctx, o, sw.ms(), t, !(o.is_error && o.err == EAGAIN));
  return o;
}

// The list argument's shapes; a 1 ms timeout keeps every call bounded.
AIOH_SCENARIO(posix_suspend_list, aioh::posix::aio_threads_param(),
              aioh::param::required_choice("shape",
                                           {"nent-negative", "nent-zero", "all-null", "null-and-pending", "done",
                                            "unsubmitted"},
                                           "the list argument")) {
  auto& be = posix::setup(ctx);
  const std::string shape = ctx.str("shape");
  const timespec ms{0, 1000000};
  posix::Pipe p(ctx);
  std::vector<uint8_t> buf(4096);
  posix::Reaper reaper(be);
  Request preq = posix::req(Op::read, p.r, buf.data(), 16, 0, 1);
  auto pending = [&] {
    if (be.submit({&preq}).is_error) ctx.broken("aio_read refused");
    return be.control_block(1);
  };
  auto finish = [&] {
    if (!p.feed(16)) ctx.broken("cannot feed");
    ctx.observe(reaper.get(1));
  };
  if (shape == "nent-negative") {
    const aiocb* a = pending();
    timed_suspend(ctx, be, {a}, -1, &ms);
    finish();
  } else if (shape == "nent-zero") {
    const aiocb* a = pending();
    timed_suspend(ctx, be, {a}, 0, &ms);
    finish();
  } else if (shape == "all-null") {
    timed_suspend(ctx, be, {nullptr, nullptr}, 2, &ms);
  } else if (shape == "null-and-pending") {
    const aiocb* a = pending();
    timed_suspend(ctx, be, {nullptr, a}, 2, &ms);
    finish();
  } else if (shape == "done") {
    int fd = posix::data_file(ctx, "f", 8192);
    Request r = posix::req(Op::read, fd, buf.data(), buf.size(), 0, 2);
    if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
    timed_suspend(ctx, be, {be.control_block(2)}, 1, nullptr);
    const timespec zero{0, 0};
    timed_suspend(ctx, be, {be.control_block(2)}, 1, &zero);
    Outcome c = reaper.get(2);
    ctx.observe(c);
    if (!c.is_error) ctx.check(verify_buffer(buf.data(), c.value, kFileSeed, 0).empty(), "data wrong");
  } else if (shape == "unsubmitted") {
    aiocb blank;
    std::memset(&blank, 0, sizeof blank);
    const aiocb* a = pending();
    timed_suspend(ctx, be, {a, &blank}, 2, &ms);
    finish();
  } else {
    ctx.broken("unknown shape " + shape);
  }
}

// A signal caught while aio_suspend sleeps; the pipe is fed only after the
// handler ran, so a restarted wait ends with 0 and an interrupted one EINTR.
AIOH_SCENARIO(posix_suspend_eintr, aioh::posix::aio_threads_param(),
              aioh::param::boolean("restart", false, "the SIGUSR1 handler has SA_RESTART"),
              aioh::param::boolean("timed", false, "a 5 s timeout instead of none")) {
  auto& be = posix::setup(ctx);
  const bool restart = ctx.flag("restart");
  posix::install_sigusr1(restart);
  posix::Pipe p(ctx);
  std::vector<uint8_t> buf(16);
  Request r = posix::req(Op::read, p.r, buf.data(), buf.size(), 0, 1);
  if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
  const timespec five{5, 0};
  Outcome s;
  {
    posix::Interrupter intr(gettid(), [&] { (void)p.feed(buf.size()); });
    s = be.suspend({be.control_block(1)}, 1, ctx.flag("timed") ? &five : nullptr);
    intr.join();
    if (intr.gave_up()) ctx.broken("the waiter was never seen in futex(2)");
  }
  ctx.observe(s);
  ctx.check(posix::g_sigusr1_hits.load() == 1, "SIGUSR1 handler ran " +
                                                    std::to_string(posix::g_sigusr1_hits.load()) + " times");
  posix::observe_read_back(ctx, be, buf.data(), kWriteSeed, 0, "pipe bytes wrong");
}

}  // namespace
}  // namespace aioh
