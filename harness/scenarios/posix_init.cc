// glibc POSIX AIO's limits and tunables (area posix-init): what sysconf(3)
// reports for the AIO limits (glibc sets no list or request limit: -1, and
// AIO_PRIO_DELTA_MAX 20, the bound aio_read enforces on aio_reqprio), and
// aio_init(3)'s aio_idle_time: a worker thread with nothing to do lingers
// that many seconds and then exits (sysdeps/pthread/aio_misc.c
// handle_fildes_io), and 0 leaves the current value (__aio_init changes it
// only when non-zero, even after the request pool exists). The linger is
// timed from the completion to the thread's disappearance from
// /proc/self/task, with the stated slack (wait_timing.h). A worker thread
// blocks every signal while it runs a request (__aio_create_helper_thread).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "convention.h"
#include "posix_util.h"
#include "wait_timing.h"

namespace aioh {
namespace {

int sysconf_name(CaseContext& ctx) {
  static const std::map<std::string, int> names = {
      {"_SC_AIO_LISTIO_MAX", _SC_AIO_LISTIO_MAX}, {"_SC_AIO_MAX", _SC_AIO_MAX},
      {"_SC_AIO_PRIO_DELTA_MAX", _SC_AIO_PRIO_DELTA_MAX}, {"_SC_ASYNCHRONOUS_IO", _SC_ASYNCHRONOUS_IO},
      {"_SC_PRIORITIZED_IO", _SC_PRIORITIZED_IO}};
  return names.at(ctx.str("name"));
}

// sysconf(name): its value @setup; errno must stay untouched (POSIX
// sysconf(): an indeterminate limit is -1 "without changing errno").
AIOH_SCENARIO(posix_sysconf, aioh::posix::aio_threads_param(),
              aioh::param::choice("name", "_SC_AIO_MAX", {"_SC_AIO_LISTIO_MAX", "_SC_AIO_MAX", "_SC_AIO_PRIO_DELTA_MAX", "_SC_ASYNCHRONOUS_IO", "_SC_PRIORITIZED_IO"}, "the sysconf name")) {
  posix::backend(ctx);
  arm_errno();
  long v = sysconf(sysconf_name(ctx));
  int err = errno;
  ctx.check(err == kErrnoSentinel, "sysconf(" + ctx.str("name") + ") changed errno to " + errno_name(err));
  ctx.observe(Outcome::ok(v, Channel::ret, Phase::setup));
}

int task_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// One read with aio_init(aio_idle_time = idle) (0: glibc's own default):
// observes the completion, the extra threads right after it (the worker
// lingers: 1@completion), and how long until they are gone.
AIOH_SCENARIO(posix_idle_time, aioh::posix::aio_threads_param(),
              aioh::param::integer("idle", 1, "aioinit.aio_idle_time (seconds)", 0, 5),
              aioh::param::integer("expect_ms", 1000, "how long the worker must linger", 0, 10000)) {
  auto& be = posix::backend(ctx);
  aioinit ai = be.aioinit_used();
  ai.aio_idle_time = static_cast<int>(ctx.num("idle"));
  be.set_aioinit(ai);
  if (be.setup(SetupParams{}).is_error) ctx.broken("aio_init failed");
  const int before = task_count();
  int fd = posix::data_file(ctx, "f", 8192);
  std::vector<uint8_t> buf(4096);
  Request r = posix::req(Op::read, fd, buf.data(), buf.size(), 0, 1);
  if (be.submit({&r}).is_error) ctx.broken("aio_read refused");
  posix::Reaper reaper(be);
  Outcome c = reaper.get(1);
  timing::Stopwatch sw;
  ctx.observe(c);
  ctx.observe(Outcome::ok(task_count() - before, Channel::ret, Phase::completion));
  const double limit = static_cast<double>(ctx.num("expect_ms")) + 10 * timing::slack_ms(ctx.env());
  while (task_count() > before && sw.ms() < limit) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double gone = sw.ms();
  // The worker starts its idle clock a moment after the completion is
  // visible here, or (woken late) a moment before: a tenth of leeway below.
  const double want = static_cast<double>(ctx.num("expect_ms"));
  timing::observe_wait_between(ctx, Outcome::ok(task_count() - before, Channel::ret, Phase::teardown), gone,
                               want * 0.9, want, "the idle worker's exit");
  close(fd);
}

std::set<std::string> task_ids() {
  std::set<std::string> ids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ids.insert(e->d_name);
    closedir(d);
  }
  return ids;
}

// The SigBlk mask of /proc/self/task/TID/status (bit N-1 = signal N); false
// when the thread or the line is gone.
bool blocked_mask(const std::string& tid, uint64_t* mask) {
  std::ifstream f("/proc/self/task/" + tid + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("SigBlk:", 0) == 0) {
      *mask = std::stoull(line.substr(7), nullptr, 16);
      return true;
    }
  return false;
}

// Signals an application can block (1..31 but SIGKILL and SIGSTOP, which
// sigprocmask() silently keeps open, and SIGRTMIN..SIGRTMAX: 32 and 33 are
// glibc's own) that `mask` leaves unblocked.
int unblocked_signals(uint64_t mask) {
  int n = 0;
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || (sig > 31 && sig < SIGRTMIN)) continue;
    n += !(mask & (uint64_t{1} << (sig - 1)));
  }
  return n;
}

// A read on an empty pipe keeps a worker thread in flight; the thread that
// appeared in /proc/self/task for it is found blocked in read(2) on the pipe,
// and its SigBlk must block every signal an application can block (observed:
// the new threads, 1@wait, and the signals left open, 0@wait). The caller's
// own mask must leave some signal open, so the reading tells the two apart.
// Then the pipe is fed and the read completes with its byte.
AIOH_SCENARIO(posix_worker_sigmask, aioh::posix::aio_threads_param()) {
  auto& be = posix::setup(ctx);
  const std::set<std::string> before = task_ids();
  posix::Pipe p(ctx);
  char byte = 0;
  Request r = posix::req(Op::read, p.r, &byte, 1, 0, 1);
  Outcome s = be.submit({&r});
  ctx.observe(s);
  if (s.is_error) return;
  const bool parked = posix::worker_in_read(p.r);
  std::vector<std::string> fresh;
  for (const std::string& t : task_ids())
    if (!before.count(t)) fresh.push_back(t);
  ctx.observe(Outcome::ok(static_cast<int64_t>(fresh.size()), Channel::ret, Phase::wait));
  uint64_t worker = 0, mine = 0;
  if (!parked || fresh.size() != 1 || !blocked_mask(fresh[0], &worker)) {
    p.feed(1);
    ctx.broken(parked ? "cannot read the new thread's SigBlk" : "no thread blocked in read(2) on the pipe");
  }
  if (!blocked_mask(std::to_string(gettid()), &mine)) ctx.broken("cannot read this thread's SigBlk");
  ctx.note(fmt::format("worker {} SigBlk {:016x}; caller SigBlk {:016x}", fresh[0], worker, mine));
  ctx.check(unblocked_signals(mine) > 0, "the caller blocks every signal too: the reading cannot tell");
  ctx.observe(Outcome::ok(unblocked_signals(worker), Channel::ret, Phase::wait));
  if (!p.feed(1)) ctx.broken("cannot feed the pipe");
  posix::observe_read_back(ctx, be, &byte, kWriteSeed, 0, "the byte read from the pipe");
}

}  // namespace
}  // namespace aioh
