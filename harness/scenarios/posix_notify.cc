// POSIX AIO completion notification (area posix-notify): SIGEV_SIGNAL
// delivers the chosen signal with si_code SI_ASYNCIO and the request's
// sigev_value (also for a request canceled while queued, for each member of
// an LIO_WAIT list, and once for a whole LIO_NOWAIT list, even an empty one);
// SIGEV_THREAD calls the function on a new thread with the value (for a
// request and for an LIO_NOWAIT list); an
// unknown sigev_notify is ignored. glibc sends the signal with sigqueue from
// its worker thread and, when that fails (an invalid signal number), stores
// sigqueue's errno as the request's status although the I/O was done: the
// rows say so, and the bytes are checked to show the transfer happened.
#include <poll.h>

#include <cstring>

#include "posix_util.h"
#include "timespec.h"

namespace aioh {
namespace {

int si_code_named(CaseContext& ctx, const std::string& name) {
  if (name == "SI_ASYNCIO") return SI_ASYNCIO;
  if (name == "SI_QUEUE") return SI_QUEUE;
  ctx.broken("unknown si_code name " + name);
}

sigevent signal_event(int signo, int value) {
  sigevent sev;
  std::memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = signo;
  sev.sigev_value.sival_int = value;
  return sev;
}

// Waits (bounded) for the notification signal and observes its sival; the
// row's si_code and this process as sender are checked.
void observe_signal(CaseContext& ctx, const sigset_t& set, int signo, long wait_ms = 5000) {
  siginfo_t si;
  const timespec limit = ms_to_timespec(wait_ms);
  int got = sigtimedwait(&set, &si, &limit);
  if (got < 0) {
    ctx.observe(Outcome::error(errno, Channel::errno_, Phase::completion));
    return;
  }
  ctx.check(got == signo, "got signal " + std::to_string(got));
  ctx.check(si.si_code == si_code_named(ctx, ctx.str("si_code")),
            "si_code is " + std::to_string(si.si_code) + ", row wants " + ctx.str("si_code"));
  ctx.check(si.si_pid == getpid(), "signal not sent by this process");
  ctx.observe(Outcome::ok(si.si_value.sival_int, Channel::ret, Phase::completion));
}

AIOH_SCENARIO(posix_notify_signal, aioh::posix::aio_threads_param(),
              aioh::param::choice("source", "read", {"read", "cancel", "lio-wait-member", "list", "list-empty", "list-wait", "list-refused", "list-badsig"}, "what raises the notification"),
              aioh::param::integer("sival", 4242, "sigev_value.sival_int"),
              aioh::param::choice("si_code", "SI_ASYNCIO", {"SI_ASYNCIO", "SI_QUEUE"}, "the si_code the signal must carry"),
              aioh::param::integer("notify", SIGEV_SIGNAL, "raw sigev_notify of the request"),
              aioh::param::integer("signo", 0, "raw sigev_signo (0: a real-time signal)"),
              aioh::param::integer("signal_wait_ms", 5000, "how long to wait for the signal", 1, 10000)) {
  auto& be = posix::setup(ctx);
  const std::string source = ctx.str("source");
  const int signo = SIGRTMIN + 1;
  const int value = static_cast<int>(ctx.num("sival"));
  // Blocked before any worker thread exists (glibc's helpers block all
  // signals anyway), so the signal stays pending for sigtimedwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int fd = posix::data_file(ctx, "f", 16384);
  AlignedBuffer buf(16384);
  std::memset(buf.data(), 0, buf.size());
  posix::Reaper reaper(be);

  if (source == "read") {
    Request r = posix::req(Op::read, fd, buf.data(), 4096, 0, 1);
    sigevent sev = signal_event(signo, value);
    if (ctx.has("notify")) sev.sigev_notify = static_cast<int>(ctx.num("notify"));
    if (ctx.has("signo")) sev.sigev_signo = static_cast<int>(ctx.num("signo"));
    be.set_sigevent(1, sev);
    ctx.observe(be.submit({&r}));
    if (sev.sigev_notify == SIGEV_SIGNAL && !ctx.has("signo")) observe_signal(ctx, set, signo);
    ctx.observe(reaper.get(1));
    // Whatever the status says, the read itself ran.
    ctx.check(verify_buffer(buf.data(), 4096, kFileSeed, 0).empty(), "the read's bytes are not in the buffer");
  } else if (source == "cancel") {
    posix::Pipe p(ctx);
    Request a = posix::req(Op::read, p.r, buf.data(), 16, 0, 1);
    Request b = posix::req(Op::read, p.r, buf.data() + 4096, 16, 0, 2);
    be.set_sigevent(2, signal_event(signo, value));
    if (be.submit({&a}).is_error || be.submit({&b}).is_error) ctx.broken("aio_read refused");
    ctx.observe(be.cancel(b));
    observe_signal(ctx, set, signo);
    ctx.observe(reaper.get(2));
    if (!p.feed(16)) ctx.broken("cannot feed");
    ctx.observe(reaper.get(1));
  } else if (source == "lio-wait-member") {
    Request r = posix::req(Op::read, fd, buf.data(), 4096, 4096, 1);
    be.set_sigevent(1, signal_event(signo, value));
    ctx.observe(be.submit_listio(LIO_WAIT, {&r}));
    observe_signal(ctx, set, signo);
    Outcome c = reaper.get(1);
    ctx.observe(c);
    if (!c.is_error) ctx.check(verify_buffer(buf.data(), c.value, kFileSeed, 4096).empty(), "data wrong");
  } else if (source.rfind("list", 0) == 0) {
    // The list notification: LIO_NOWAIT's (also for an empty list, and for
    // a list none of whose members glibc accepted), LIO_WAIT's (ignored),
    // or one with an invalid signal number (its sigqueue fails unseen).
    sigevent lsev = signal_event(source == "list-badsig" ? 999 : signo, value);
    Request r1 = posix::req(Op::read, fd, buf.data(), 4096, 0, 1);
    Request r2 = posix::req(Op::read, fd, buf.data() + 4096, 4096, 4096, 2);
    if (source == "list-refused") r1.reqprio = 21;
    std::vector<Request*> list;
    if (source == "list-refused") list = {&r1};
    else if (source != "list-empty") list = {&r1, &r2};
    ctx.observe(be.submit_listio(source == "list-wait" ? LIO_WAIT : LIO_NOWAIT, list, &lsev));
    observe_signal(ctx, set, signo, ctx.num("signal_wait_ms"));
    for (uint64_t t = 1; t <= list.size(); t++) ctx.observe(reaper.get(t));
    if (list.size() == 2)
      ctx.check(verify_buffer(buf.data(), 8192, kFileSeed, 0).empty(), "data wrong");
  } else {
    ctx.broken("unknown source " + source);
  }
}

std::atomic<int> g_notify_fd{-1};
void notify_fn(sigval v) {
  int msg[2] = {v.sival_int, static_cast<int>(gettid())};
  (void)!write(g_notify_fd.load(), msg, sizeof msg);
}

// SIGEV_THREAD: the function runs on another thread with sigev_value, for
// one request's own sigevent or an LIO_NOWAIT list's.
AIOH_SCENARIO(posix_notify_thread, aioh::posix::aio_threads_param(),
              aioh::param::integer("sival", 99, "sigev_value.sival_int"),
              aioh::param::choice("source", "read", {"read", "list"}, "aio_read's sigevent, or lio_listio(LIO_NOWAIT)'s")) {
  auto& be = posix::setup(ctx);
  posix::Pipe note(ctx);
  g_notify_fd = note.w;
  int fd = posix::data_file(ctx, "f", 8192);
  std::vector<uint8_t> buf(4096);
  Request r = posix::req(Op::read, fd, buf.data(), buf.size(), 0, 1);
  sigevent sev;
  std::memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = notify_fn;
  sev.sigev_value.sival_int = static_cast<int>(ctx.num("sival"));
  if (ctx.str("source") == "list") {
    ctx.observe(be.submit_listio(LIO_NOWAIT, {&r}, &sev));
  } else {
    be.set_sigevent(1, sev);
    ctx.observe(be.submit({&r}));
  }
  pollfd pfd{note.r, POLLIN, 0};
  int msg[2];
  if (poll(&pfd, 1, 5000) == 1 && read(note.r, msg, sizeof msg) == sizeof msg) {
    ctx.observe(Outcome::ok(msg[0], Channel::ret, Phase::completion));
    ctx.check(msg[1] != static_cast<int>(gettid()), "notification ran on the submitting thread");
  } else {
    ctx.observe(Outcome::error(ETIMEDOUT, Channel::errno_, Phase::completion));
  }
  posix::observe_read_back(ctx, be, buf.data(), kFileSeed, 0, "data wrong");
}

}  // namespace
}  // namespace aioh
