// Kernel AIO contexts over a process's life, on kernel AIO and libaio: a
// context belongs to the mm that made it (fs/aio.c mm->ioctx_table), so a
// forked child cannot use its parent's, although the ring's mapping is
// copied into it (libaio, which reads the ring in user space, then answers
// what the kernel would refuse); exit cancels what can be cancelled and
// waits for the rest (exit_aio() -> kill_ioctx(), like io_destroy), so a
// pending IOCB_CMD_POLL lets go of its file and an O_DIRECT read has landed
// by the time the parent reaps the child; mremap(2) of the ring moves the
// context id with it (aio_ring_mremap() updates ctx->user_id); and the
// context is found through ring->id in user memory (lookup_ioctx()).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "common.h"
#include "errno_names.h"
#include "kaio_util.h"
#include "pattern.h"

namespace aioh {
namespace {

using kaio::aio;

// An Outcome carried over a pipe from a child, or the signal that ended it.
struct Wire {
  bool is_error = false;
  int err = 0;
  int64_t value = 0;
  Channel channel = Channel::ret;
  Phase phase = Phase::submit;
};

Wire to_wire(const Outcome& o) { return Wire{o.is_error, o.err, o.value, o.channel, o.phase}; }

// Runs fn in a forked child and observes what it reported (one Wire), or the
// signal that killed it (as "SIGSEGV@<phase>"). The child _exits without
// running destructors: the parent's objects are the parent's.
void observe_child(CaseContext& ctx, Phase phase, const std::function<Wire()>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  pid_t pid = fork();
  if (pid < 0) ctx.broken("fork failed");
  if (pid == 0) {
    Wire w = fn();
    _exit(write(p[1], &w, sizeof w) == sizeof w ? 0 : 1);
  }
  close(p[1]);
  Wire w;
  ssize_t n = read(p[0], &w, sizeof w);
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    ctx.observe(Outcome::ok(WTERMSIG(status), Channel::ret, phase, abbrev ? std::string("SIG") + abbrev : ""));
  } else if (n == sizeof w) {
    ctx.observe(w.is_error ? Outcome::error(w.err, w.channel, w.phase) : Outcome::ok(w.value, w.channel, w.phase));
  } else {
    ctx.broken("the child neither answered nor died of a signal");
  }
}

// One buffered read through the parent's context, observed and verified.
void parent_read_still_works(CaseContext& ctx, AioBackendBase& be, int fd) {
  AlignedBuffer buf(4096);
  Request r = scn::read_req(fd, buf.data(), 4096, 0, 2);
  ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, timespec{5, 0}, out);
  if (w.is_error || out.size() != 1) return ctx.observe(w);
  ctx.observe(out[0].result);
  ctx.check(verify_buffer(buf.data(), 4096, kFileSeed, 0).empty(), "the parent's read returned wrong bytes");
}

// The child calls `call` on the parent's context; then the parent's own
// context is shown to be untouched.
AIOH_SCENARIO(kaio_fork_child,
              aioh::param::choice("call", "submit", {"submit", "getevents_zero", "getevents_short", "destroy", "cancel", "setup"}, "what the child does with the parent's context")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  const AioContext parent = be.context();
  const std::string call = ctx.str("call");
  observe_child(ctx, call == "destroy" ? Phase::teardown : call == "setup" ? Phase::setup
                     : call == "cancel" ? Phase::cancel : call == "submit" ? Phase::submit : Phase::wait,
                [&] {
    KIocb cb;
    Request r;
    r.op = Op::read;
    r.fd = fd;
    r.buf = buf.data();
    r.len = 4096;
    build_iocb(r, r.iov, cb);
    KIocb* arr[1] = {&cb};
    KIoEvent ev;
    timespec zero{0, 0}, shrt{0, 10000000};
    if (call == "submit") return to_wire(be.raw_submit(parent, 1, arr));
    if (call == "getevents_zero") return to_wire(be.raw_getevents(parent, 1, 1, &ev, &zero));
    if (call == "getevents_short") return to_wire(be.raw_getevents(parent, 1, 1, &ev, &shrt));
    if (call == "destroy") return to_wire(be.raw_destroy(parent));
    if (call == "cancel") return to_wire(be.raw_cancel(parent, &cb, &ev));
    // A context of its own works in the child.
    AioContext mine = 0;
    Outcome s = be.raw_setup(8, &mine);
    if (!s.is_error && mine == parent) return Wire{true, EEXIST, 0, Channel::ret, Phase::setup};
    if (!s.is_error) be.raw_destroy(mine);
    return to_wire(s);
  });
  parent_read_still_works(ctx, be, fd);
  close(fd);
}

// A child sets up its own context, submits `what`, and exits without
// io_destroy. pending_poll: a poll on a pipe both share; once the child is
// reaped, the parent closes its read end and writes: EPIPE shows the
// cancelled poll dropped its file. dio_inflight: O_DIRECT reads into shared
// memory; they have all landed once the child is reaped.
AIOH_SCENARIO(kaio_exit_with_requests,
              aioh::param::choice("what", "pending_poll", {"pending_poll", "dio_inflight"}, "what the child leaves in flight")) {
  aio(ctx);
  const bool dio = ctx.str("what") == "dio_inflight";
  const size_t nreq = 16, chunk = 65536;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  int fd = dio ? ctx.scratch_file("data", nreq * chunk, O_RDONLY | O_DIRECT) : -1;
  if (dio && fd < 0) ctx.broken("cannot open the scratch file with O_DIRECT");
  void* shared = mmap(nullptr, nreq * chunk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) ctx.broken("mmap failed");
  observe_child(ctx, Phase::submit, [&] {
    if (ctx.backend().setup(SetupParams{}).is_error) return Wire{true, EIO, 0, Channel::ret, Phase::setup};
    std::vector<Request> reqs(dio ? nreq : 1);
    std::vector<Request*> ptrs;
    for (size_t i = 0; i < reqs.size(); ++i) {
      Request& r = reqs[i];
      r.tag = i;
      if (dio) {
        r.op = Op::read;
        r.fd = fd;
        r.buf = static_cast<uint8_t*>(shared) + i * chunk;
        r.len = chunk;
        r.offset = static_cast<int64_t>(i * chunk);
      } else {
        r.op = Op::poll;
        r.fd = p[0];
        r.poll_events = POLLIN;
      }
      ptrs.push_back(&r);
    }
    // observe_child() _exits after reporting: no io_destroy, the requests stay in flight.
    return to_wire(ctx.backend().submit(ptrs));
  });
  close(p[0]);
  if (dio) {
    // exit_aio() waited for every read: the shared buffer is complete now.
    std::string bad = verify_buffer(shared, nreq * chunk, kFileSeed, 0);
    ctx.check(bad.empty(), "after the child exited: " + bad);
    ctx.observe(Outcome::ok(0, Channel::ret, Phase::teardown));
  } else {
    signal(SIGPIPE, SIG_IGN);
    // The cancelled poll's file reference goes with its last put, which may
    // run a moment after the exit (a workqueue, delayed fput): bounded retry.
    ssize_t w = 0;
    int err = 0;
    for (int i = 0; i < 2000; ++i) {
      w = write(p[1], "x", 1);
      err = errno;
      if (w < 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ctx.observe(w < 0 ? Outcome::error(err, Channel::errno_, Phase::teardown)
                      : Outcome::ok(w, Channel::ret, Phase::teardown));
  }
  close(p[1]);
  munmap(shared, nreq * chunk);
  if (fd >= 0) close(fd);
}

// mremap(2) of the ring: the context id becomes the new address. The old
// address then holds a fresh zero page (so libaio, which reads the ring
// first, reads something): its ring id 0 names our context, whose user_id no
// longer matches, so fs/aio.c lookup_ioctx() refuses it.
AIOH_SCENARIO(kaio_ring_mremap, aioh::param::none) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  const AioContext old_ctx = be.context();
  auto* ring = reinterpret_cast<const AioRingHeader*>(old_ctx);
  const size_t len = (ring->header_length + size_t{ring->nr} * sizeof(KIoEvent) + 4095) & ~size_t{4095};
  void* dest = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* moved = dest == MAP_FAILED ? MAP_FAILED
                                   : mremap(reinterpret_cast<void*>(old_ctx), len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  if (moved == MAP_FAILED) ctx.broken(std::string("mremap of the ring failed: ") + errno_name(errno));
  be.forget_context();
  if (mmap(reinterpret_cast<void*>(old_ctx), 4096, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    ctx.broken("cannot map a page at the old ring address");
  const AioContext new_ctx = reinterpret_cast<AioContext>(moved);
  KIoEvent ev;
  timespec shrt{0, 1000000};
  ctx.observe(be.raw_getevents(old_ctx, 0, 1, &ev, &shrt));
  ctx.observe(be.raw_getevents(new_ctx, 0, 1, &ev, &shrt));
  ctx.observe(be.raw_destroy(new_ctx));
  munmap(reinterpret_cast<void*>(old_ctx), 4096);
}

// The context is looked up through the ring in user memory: fs/aio.c
// lookup_ioctx() reads ring->id with get_user() and takes that slot of
// mm->ioctx_table only if its user_id is the ctx address. With ring->id
// overwritten (far past the table) io_submit, io_getevents (a 1 ms timeout,
// so libaio's zero-timeout ring shortcut does not answer instead of the
// kernel) and io_destroy all answer EINVAL; with the id written back the
// same context works again: a read is submitted, reaped (its bytes checked)
// and the context destroyed.
AIOH_SCENARIO(kaio_ring_id, aioh::param::none) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  const AioContext c = be.context();
  auto* ring = reinterpret_cast<volatile AioRingHeader*>(c);
  if (ring->magic != kAioRingMagic) ctx.broken("the context is not a mapped aio ring");
  int fd = ctx.scratch_file("data", 8192, O_RDONLY);
  if (fd < 0) ctx.broken("cannot open the scratch file");
  AlignedBuffer buf(4096);
  Request r = make_request(Op::read, fd, buf.data(), 4096, 4096, 7);
  KIocb cb;
  build_iocb(r, r.iov, cb);
  KIocb* arr[1] = {&cb};
  KIoEvent ev{};
  timespec shrt{0, 1000000};
  const unsigned id = ring->id;
  ring->id = 0x7fff0000u;  // no table slot: lookup_ioctx() finds nothing
  ctx.observe(be.raw_submit(c, 1, arr));
  ctx.observe(be.raw_getevents(c, 0, 1, &ev, &shrt));
  ctx.observe(be.raw_destroy(c));
  ring->id = id;
  ctx.observe(be.raw_submit(c, 1, arr));
  timespec ts{5, 0};
  Outcome w = be.raw_getevents(c, 1, 1, &ev, &ts);
  ctx.observe(w);
  if (!w.is_error && w.value == 1) {
    ctx.check(ev.data == 7, "the event is not the read's (aio_data " + std::to_string(ev.data) + ")");
    Completion done = AioBackendBase::to_completion(ev);
    ctx.observe(done.result);
    scn::verify_read(ctx, done, buf.data(), 4096);
  }
  ctx.observe(be.raw_destroy(c));
  be.forget_context();
  close(fd);
}

}  // namespace
}  // namespace aioh
