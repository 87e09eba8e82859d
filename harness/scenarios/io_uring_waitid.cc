// io_uring's IORING_OP_WAITID (6.7): waitid(2) as a request. A child of the
// case is forked and made to exit (or killed) while the request is queued; the
// siginfo the kernel writes back is checked field by field (si_signo SIGCHLD,
// si_code, si_status, si_pid the child's), and whether the child was reaped
// afterwards. The documented refusals (no child: ECHILD; no wait option or an
// unknown idtype: EINVAL; a field the op does not take: EINVAL) come back in
// cqe->res. liburing 2.3 has no io_uring_prep_waitid, so the SQE is filled as
// io_uring/waitid.c io_waitid_prep() reads it.
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <memory>

#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// idtype in sqe->len, the id in sqe->fd, options in sqe->file_index, the
// siginfo pointer in sqe->addr2.
void prep_waitid(io_uring_sqe* s, int idtype, pid_t id, siginfo_t* info, unsigned options) {
  io_uring_prep_rw(kOpWaitid, s, id, nullptr, static_cast<unsigned>(idtype), reinterpret_cast<uintptr_t>(info));
  s->file_index = options;
}

// A child that exits with `code` once a byte arrives on its pipe (or is
// killed); waited for on every path so no zombie outlives the case.
struct Child {
  pid_t pid = -1;
  int go = -1;
  explicit Child(CaseContext& ctx) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe");
    pid = fork();
    if (pid < 0) ctx.broken("fork");
    if (pid == 0) {
      close(p[1]);
      char c = 0;
      ssize_t n = read(p[0], &c, 1);
      _exit(n == 1 ? c : 99);
    }
    close(p[0]);
    go = p[1];
  }
  void release(char code) {
    if (write(go, &code, 1) != 1) {}
  }
  ~Child() {
    if (go >= 0) close(go);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// op:
//  exited      P_PID of a child released to _exit(7) after the request is
//              queued. Observes: CQEs before the release (0), res, si_signo,
//              si_code, si_status, si_pid is the child's (1), the child is
//              reaped (waitpid ECHILD afterwards: 1).
//  killed      the same, the child SIGKILLed: res, si_code, si_status.
//  wnowait     WEXITED|WNOWAIT on a child already exited: res, si_status,
//              the child still waitable (waitpid returns it: 1).
//  wnohang     WEXITED|WNOHANG on a running child: res, si_pid (0), si_signo (0).
//  cancel      a queued waitid cancelled by user_data: its res, the cancel's.
//  no-child    P_ALL with no child: res.
//  no-options  options 0: res.
//  bad-idtype  idtype 42: res.
//  addr-set    sqe->addr non-zero: res.
AIOH_SCENARIO(uring_waitid,
              aioh::param::choice("op", "exited",
                                  {"exited", "killed", "wnowait", "wnohang", "cancel", "no-child", "no-options",
                                   "bad-idtype", "addr-set"},
                                  "the waitid request and its case")) {
  signal(SIGCHLD, SIG_DFL);  // an ignored SIGCHLD would reap the child itself
  IoUringBackend& be = up(ctx, 8);
  const std::string op = ctx.str("op");
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto res = [&](int r) { ctx.observe(IoUringBackend::res_outcome(r)); };
  siginfo_t si;
  std::memset(&si, 0x5a, sizeof si);  // every field the kernel writes is checked, not left over

  if (op == "no-child" || op == "no-options" || op == "bad-idtype" || op == "addr-set") {
    const int idtype = op == "bad-idtype" ? 42 : P_ALL;
    const unsigned options = op == "no-options" ? 0u : static_cast<unsigned>(WEXITED);
    std::unique_ptr<Child> child;
    if (op != "no-child") child = std::make_unique<Child>(ctx);  // a child exists: only the argument is wrong
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      prep_waitid(s, idtype, 0, &si, options);
      if (op == "addr-set") s->addr = 1;
    });
    res(reap(ctx, be, 1)[0].res);
    return;
  }
  Child child(ctx);
  if (op == "exited" || op == "killed") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_waitid(s, P_PID, child.pid, &si, WEXITED); });
    value(ready_within(be, 100));
    if (op == "exited")
      child.release(7);
    else
      kill(child.pid, SIGKILL);
    res(reap(ctx, be, 1)[0].res);
    if (op == "exited") value(si.si_signo);
    value(si.si_code);
    value(si.si_status);
    if (op == "exited") {
      value(si.si_pid == child.pid ? 1 : 0);
      errno = 0;
      value(waitpid(child.pid, nullptr, WNOHANG) == -1 && errno == ECHILD ? 1 : 0);
      child.pid = -1;
    }
  } else if (op == "wnowait") {
    child.release(5);
    siginfo_t done{};  // the child is a zombie before the request is issued
    if (waitid(P_PID, static_cast<id_t>(child.pid), &done, WEXITED | WNOWAIT) != 0) ctx.broken("waitid(2)");
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_waitid(s, P_PID, child.pid, &si, WEXITED | WNOWAIT); });
    res(reap(ctx, be, 1)[0].res);
    value(si.si_status);
    value(waitpid(child.pid, nullptr, WNOHANG) == child.pid ? 1 : 0);
    child.pid = -1;
  } else if (op == "wnohang") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_waitid(s, P_PID, child.pid, &si, WEXITED | WNOHANG); });
    res(reap(ctx, be, 1)[0].res);
    value(si.si_pid);
    value(si.si_signo);
  } else {  // cancel
    observe_pending_then_cancel(ctx, be, [&](io_uring_sqe* s) { prep_waitid(s, P_PID, child.pid, &si, WEXITED); });
  }
}

}  // namespace
}  // namespace aioh
