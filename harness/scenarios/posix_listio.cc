// POSIX AIO lio_listio (area posix-listio): LIO_WAIT and LIO_NOWAIT with a
// failing member, an invalid mode, LIO_NOP and NULL entries, nent 0, raw
// aio_lio_opcode values, and an LIO_WAIT interrupted by a signal. glibc
// answers EIO for LIO_WAIT when any member failed, passes an enqueue error
// (EINVAL for aio_reqprio) through for LIO_NOWAIT, hands unknown opcodes to
// its worker (EINVAL at completion) except its internal LIO_DSYNC/LIO_SYNC
// values 3 and 4, which it runs as fdatasync/fsync, and restarts an
// interrupted LIO_WAIT under SA_RESTART. Without SA_RESTART it returns EINTR
// (as POSIX allows) but leaves its wait list, a VLA in a frame that is gone,
// linked to the still-running request, whose completion then follows it:
// on a stack of its own (where nothing overwrites the dead frame) that is a
// SIGABRT every time, observed from a forked grandchild.
// Also a list longer than _POSIX_AIO_LISTIO_MAX (glibc sets no limit:
// sysconf(_SC_AIO_LISTIO_MAX) is -1).
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>

#include <cstring>

#include "convention.h"

#include "posix_util.h"

namespace aioh {
namespace {

int lio_mode(CaseContext& ctx) {
  std::string m = ctx.str("mode");
  if (m == "wait") return LIO_WAIT;
  if (m == "nowait") return LIO_NOWAIT;
  if (m == "invalid") return static_cast<int>(ctx.num("raw_mode"));
  ctx.broken("unknown mode " + m);
}

using posix::closed_fd;

// members: comma list of read | write | bad-fd | bad-prio | nop | null |
// op=N, repeated `repeat` times; member i works on [i*4096, (i+1)*4096) of a
// pattern file. With repeat > 1 the completions are observed as one count of
// members that transferred their whole block.
AIOH_SCENARIO(posix_listio_batch, aioh::posix::aio_threads_param(),
              aioh::param::choice("mode", "wait", {"wait", "nowait", "invalid"}, "lio_listio's mode"),
              aioh::param::integer("raw_mode", 5, "the mode value for mode = invalid"),
              aioh::param::text("members", "", "comma list: read write bad-fd bad-prio nop null op=N"),
              aioh::param::integer("repeat", 1, "the list repeated this many times", 1, 1024),
              aioh::param::integer("bad_prio", 21, "aio_reqprio of a bad-prio member"),
              aioh::param::boolean("reap", true, "reap and observe the members")) {
  auto& be = posix::setup(ctx);
  const size_t blk = 4096;
  auto members = split_fields(ctx.str("members"), ',');
  const std::vector<std::string> once = members;
  for (int64_t k = 1; k < ctx.num("repeat"); ++k) members.insert(members.end(), once.begin(), once.end());
  int fd = posix::data_file(ctx, "f", blk * (members.size() + 1));
  int bad = closed_fd();
  AlignedBuffer buf(blk * (members.size() + 1));
  std::memset(buf.data(), 0, buf.size());
  std::vector<Request> reqs(members.size());
  std::vector<Request*> list;
  std::vector<size_t> tracked;
  for (size_t i = 0; i < members.size(); i++) {
    const std::string& m = members[i];
    Request& r = reqs[i];
    r = posix::req(Op::read, fd, buf.data() + i * blk, blk, static_cast<int64_t>(i * blk), i + 1);
    if (m == "null") {
      list.push_back(nullptr);
      continue;
    }
    if (m == "write") {
      r.op = Op::write;
      fill_pattern(r.buf, blk, kWriteSeed, i * blk);
    } else if (m == "bad-fd") {
      r.fd = bad;
    } else if (m == "bad-prio") {
      r.reqprio = static_cast<int>(ctx.num("bad_prio"));
    } else if (m == "nop") {
      r.op = Op::nop;
    } else if (m.rfind("op=", 0) == 0) {
      r.raw_opcode = std::stoi(m.substr(3));
    } else if (m != "read") {
      ctx.broken("unknown member " + m);
    }
    list.push_back(&r);
    if (m != "nop") tracked.push_back(i);
  }
  std::vector<uint8_t> nop_before(sizeof(aiocb));
  Outcome s = be.submit_listio(lio_mode(ctx), list);
  ctx.observe(s);
  if (!ctx.flag("reap")) return;
  posix::Reaper reaper(be);
  const bool summed = ctx.num("repeat") > 1;
  int64_t whole = 0;
  for (size_t i : tracked) {
    Outcome c = reaper.get(i + 1);
    if (summed) whole += !c.is_error && c.value == static_cast<int64_t>(blk);
    else ctx.observe(c);
    if (c.is_error || members[i].rfind("op=", 0) == 0) continue;
    if (members[i] == "write")
      ctx.check(verify_file(fd, i * blk, c.value, kWriteSeed).empty(),
                "member " + std::to_string(i) + " wrote wrong bytes");
    else
      ctx.check(verify_buffer(reqs[i].buf, c.value, kFileSeed, i * blk).empty(),
                "member " + std::to_string(i) + " read wrong bytes");
  }
  if (summed) ctx.observe(Outcome::ok(whole, Channel::aio_return, Phase::completion));
  // A LIO_NOP member's aiocb is never touched by glibc.
  for (size_t i = 0; i < members.size(); i++)
    if (members[i] == "nop") {
      aiocb* cb = be.control_block(i + 1);
      ctx.check(cb && cb->__error_code == 0 && cb->__return_value == 0,
                "glibc wrote a status into the LIO_NOP member's aiocb");
    }
}

// An interrupted LIO_WAIT. glibc's wait list is a VLA in a block of
// lio_listio_internal (rt/lio_listio-common.c); on EINTR it is left linked to
// the request, and the very next call after the block, the mutex unlock,
// pushes its return address over the entry's sigevp. When the request
// completes, __aio_notify therefore takes the entry for an LIO_NOWAIT one:
// --*counterp on the dead frame's `total` and, if that reaches 0, a "signal"
// from the code address and free() of the stack address: SIGABRT. Whether
// `total` still reads 1 then depends on what ran on that stack in between,
// which is why plain runs aborted, hung or (on some guests) passed. Here
// lio_listio runs on a stack of its own that nothing else touches, so
// `total` is still 1 and the outcome is the same on every kernel. It runs in
// a grandchild forked before any AIO use, so the abort is observed, not
// suffered.
struct LioCall {
  aiocb* list[1] = {nullptr};
  int rc = -2, err = 0;
};
LioCall* g_lio = nullptr;
ucontext_t g_back, g_on;
volatile size_t g_pad = 64 * 1024;

// Runs on the own stack: lio_listio is called below a 64 KiB VLA whose scope
// ends before the switch back, so that switch writes above lio_listio's
// frame, never into it. The context is never resumed.
void run_lio_wait() {
  {
    char pad[g_pad];
    asm volatile("" : : "r"(pad) : "memory");
    errno = 0;
    g_lio->rc = lio_listio(LIO_WAIT, g_lio->list, 1, nullptr);
    g_lio->err = errno;
  }
  swapcontext(&g_on, &g_back);
}

// Runs fn on a fresh 256 KiB stack (leaked: it must stay as it is).
bool run_on_own_stack(void (*fn)()) {
  const size_t size = 256 * 1024;
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return false;
  getcontext(&g_on);
  g_on.uc_stack.ss_sp = base;
  g_on.uc_stack.ss_size = size;
  g_on.uc_link = nullptr;
  makecontext(&g_on, fn, 0);
  swapcontext(&g_back, &g_on);
  return true;
}

struct GrandchildReport {
  int rc = -2, err = 0;      // lio_listio
  int status = -2, ret = 0;  // aio_error / aio_return
};

void interrupted_lio_wait(int out_fd, bool complete) {
  GrandchildReport rep;
  posix::install_sigusr1(false);
  int p[2];
  char buf[16];
  if (pipe(p) != 0) _exit(1);
  aiocb cb;
  std::memset(&cb, 0, sizeof cb);
  cb.aio_fildes = p[0];
  cb.aio_buf = buf;
  cb.aio_nbytes = sizeof buf;
  cb.aio_lio_opcode = LIO_READ;
  LioCall call;
  call.list[0] = &cb;
  g_lio = &call;
  {
    posix::Interrupter intr(gettid(), [] {});
    if (!run_on_own_stack(run_lio_wait)) _exit(1);
    intr.join();
  }
  rep.rc = call.rc;
  rep.err = call.err;
  (void)!write(out_fd, &rep, sizeof rep);
  if (!complete) _exit(0);
  std::vector<uint8_t> data(sizeof buf);
  fill_pattern(data.data(), data.size(), kWriteSeed, 0);
  (void)!write(p[1], data.data(), data.size());
  const aiocb* l[1] = {&cb};
  const timespec five{5, 0};
  while (aio_error(&cb) == EINPROGRESS && aio_suspend(l, 1, &five) == 0) {
  }
  rep.status = aio_error(&cb);
  rep.ret = static_cast<int>(aio_return(&cb));
  if (rep.status == 0 && !verify_buffer(buf, rep.ret, kWriteSeed, 0).empty()) rep.status = -3;
  (void)!write(out_fd, &rep, sizeof rep);
  _exit(0);
}

// Restarted (SA_RESTART): the pipe is fed once the handler ran, and LIO_WAIT
// ends normally when the request completes.
void restarted_lio_wait(CaseContext& ctx, PosixAioBackend& be) {
  posix::install_sigusr1(true);
  posix::Pipe p(ctx);
  const size_t n = 16;
  std::vector<uint8_t> buf(n);
  Request r = posix::req(Op::read, p.r, buf.data(), n, 0, 1);
  Outcome s;
  {
    posix::Interrupter intr(gettid(), [&] { (void)p.feed(n); });
    s = be.submit_listio(LIO_WAIT, {&r});
    intr.join();
    if (intr.gave_up()) ctx.broken("lio_listio was never seen in futex(2)");
  }
  ctx.observe(s);
  posix::observe_read_back(ctx, be, buf.data(), kWriteSeed, 0, "pipe bytes wrong");
}

AIOH_SCENARIO(posix_listio_eintr, aioh::posix::aio_threads_param(),
              aioh::param::boolean("restart", false, "the SIGUSR1 handler has SA_RESTART"),
              aioh::param::boolean("complete", false, "observe the interrupted request's completion too")) {
  auto& be = posix::setup(ctx);
  if (ctx.flag("restart")) return restarted_lio_wait(ctx, be);
  const bool complete = ctx.flag("complete");
  int res[2];
  if (pipe2(res, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  pid_t pid = fork();
  if (pid < 0) ctx.broken("fork failed");
  if (pid == 0) interrupted_lio_wait(res[1], complete);
  close(res[1]);
  bool alive = false;  // still running when a report was due: a hang
  auto next = [&](GrandchildReport* rep) {
    pollfd pfd{res[0], POLLIN, 0};
    int n = poll(&pfd, 1, 5000);
    alive = n == 0;
    return n == 1 && read(res[0], rep, sizeof *rep) == sizeof *rep;
  };
  GrandchildReport first, second;
  bool got_first = next(&first);
  bool got_second = got_first && complete && next(&second);
  close(res[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!got_first) ctx.broken("the grandchild reported nothing from lio_listio");
  ctx.observe(from_minus1_errno(first.rc, first.rc == -1 ? first.err : kErrnoSentinel, Phase::submit,
                                be.conventions(), "lio_listio"));
  if (!complete) return;
  if (!got_second) {
    std::string how = alive ? "a hang (no report within 5 s, killed)"
                      : WIFSIGNALED(status) ? std::string("SIG") + (sigabbrev_np(WTERMSIG(status)) ?: "?")
                                            : "an exit without a report";
    ctx.note("the grandchild ended by " + how + " when the interrupted request completed");
    ctx.check(false, "completing the request of an interrupted LIO_WAIT killed the process (" + how +
                         "): glibc's __aio_notify followed the stale on-stack wait list");
    return;
  }
  if (second.status == -3) ctx.check(false, "pipe bytes read back wrong");
  ctx.observe(second.status > 0 ? Outcome::error(second.status, Channel::aio_error, Phase::completion)
                                : Outcome::ok(second.ret, Channel::aio_return, Phase::completion));
}

}  // namespace
}  // namespace aioh
