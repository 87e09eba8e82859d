// glibc POSIX AIO's limits and tunables (area posix-init): what sysconf(3)
// reports for the AIO limits (glibc sets no list or request limit: -1, and
// AIO_PRIO_DELTA_MAX 20, the bound aio_read enforces on aio_reqprio), and
// aio_init(3)'s aio_idle_time: a worker thread with nothing to do lingers
// that many seconds and then exits (sysdeps/pthread/aio_misc.c
// handle_fildes_io), and 0 leaves the current value (__aio_init changes it
// only when non-zero, even after the request pool exists). The linger is
// timed from the completion to the thread's disappearance from
// /proc/self/task, with the stated slack (wait_timing.h).
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

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

}  // namespace
}  // namespace aioh
