// io_cancel(2) on kernel AIO and libaio. In fs/aio.c only requests with a
// ki_cancel method can be cancelled, and among the iocb opcodes only
// IOCB_CMD_POLL installs one (aio_poll_cancel); io_cancel then answers
// EINPROGRESS and the cancelled poll still completes through the ring (res
// 0). File reads and writes, finished requests, a second cancel, an iocb that
// was never submitted (aio_key is not KIOCB_KEY) and a bad context are EINVAL;
// a NULL iocb is EFAULT before the context is even looked up (fs/aio.c
// io_cancel(): get_user(key, &iocb->aio_key) comes first), and the result
// argument is never written, so NULL or a read-only page is fine there. A
// poll is found only on its own context's active_reqs (another live context
// answers EINVAL), and only while it pends: one that found its event ready
// completed inside io_submit and is past cancelling.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kaio_util.h"
#include "pattern.h"

namespace aioh {
namespace {

using kaio::aio;

void reap_one(CaseContext& ctx, AioBackendBase& be) {
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, timespec{5, 0}, out);
  if (w.is_error || out.size() != 1) {
    ctx.observe(w);
    return;
  }
  ctx.observe(out[0].result);
}

AIOH_SCENARIO(kaio_cancel,
              aioh::param::choice("target", "pending_poll", {"completed_read", "submitted_read", "pending_poll", "poll_twice", "never_submitted", "bad_key", "bad_ctx", "null_iocb", "null_iocb_bad_ctx", "null_result", "readonly_result", "other_ctx", "ready_poll"}, "what io_cancel is pointed at"),
              aioh::param::boolean("no_verify", false, "skip the read's data check")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  const std::string target = ctx.str("target");
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  int p[2];
  if (fd < 0 || pipe2(p, O_CLOEXEC) != 0) ctx.broken("cannot make fds");
  AlignedBuffer buf(4096);
  Request r;
  r.tag = 7;
  const bool file = target == "completed_read" || target == "submitted_read";
  if (file) {
    r.op = Op::read;
    r.fd = fd;
    r.buf = buf.data();
    r.len = 4096;
  } else {
    r.op = Op::poll;
    r.fd = p[0];  // the write end stays open and silent: the poll pends
    r.poll_events = POLLIN;
  }
  // ready_poll: the pipe holds a byte, so aio_poll() completes the request
  // inside io_submit and never puts it on ctx->active_reqs.
  if (target == "ready_poll" && write(p[1], "x", 1) != 1) ctx.broken("cannot fill the pipe");
  const bool submits = target != "never_submitted" && target.rfind("null_iocb", 0) != 0;
  if (submits) ctx.observe(be.submit({&r}));

  if (target == "completed_read") {
    reap_one(ctx, be);
    ctx.observe(be.cancel(r));
  } else if (target == "submitted_read" || target == "pending_poll") {
    ctx.observe(be.cancel(r));
    reap_one(ctx, be);
  } else if (target == "poll_twice") {
    ctx.observe(be.cancel(r));
    ctx.observe(be.cancel(r));
    reap_one(ctx, be);
  } else if (target == "never_submitted") {
    ctx.observe(be.cancel(r));
  } else if (target == "bad_key") {
    // fs/aio.c io_cancel(): aio_key must still hold KIOCB_KEY (0).
    KIocb* cb = be.iocb_of(r.tag);
    if (!cb) ctx.broken("no iocb for the submitted tag");
    const uint32_t key = cb->aio_key;
    cb->aio_key = 0xbad;
    ctx.observe(be.cancel(r));
    cb->aio_key = key;
  } else if (target == "bad_ctx") {
    KIoEvent ev;
    ctx.observe(be.raw_cancel(0x1000, be.iocb_of(r.tag), &ev));
  } else if (target == "null_iocb" || target == "null_iocb_bad_ctx") {
    KIoEvent ev;
    ctx.observe(be.raw_cancel(target == "null_iocb" ? be.context() : 0x1000, nullptr, &ev));
  } else if (target == "null_result") {
    ctx.observe(be.raw_cancel(be.context(), be.iocb_of(r.tag), nullptr));
    reap_one(ctx, be);
  } else if (target == "readonly_result") {
    // A result the kernel could not write: io_cancel must not try.
    void* page = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) ctx.broken("mmap failed");
    ctx.observe(be.raw_cancel(be.context(), be.iocb_of(r.tag), static_cast<KIoEvent*>(page)));
    munmap(page, 4096);
    reap_one(ctx, be);
  } else if (target == "other_ctx") {
    // A second, live context that never saw the iocb, then the right one.
    AioContext other = 0;
    Outcome s = be.raw_setup(8, &other);
    if (s.is_error) ctx.broken("io_setup of the second context failed");
    KIoEvent ev;
    ctx.observe(be.raw_cancel(other, be.iocb_of(r.tag), &ev));
    be.raw_destroy(other);
    ctx.observe(be.cancel(r));
    reap_one(ctx, be);
  } else if (target == "ready_poll") {
    ctx.observe(be.cancel(r));
    reap_one(ctx, be);
  } else {
    ctx.broken("unknown target " + target);
  }
  if (file && !ctx.flag("no_verify")) {
    std::string bad = verify_buffer(buf.data(), 4096, kFileSeed, 0);
    ctx.check(bad.empty(), bad);
  }
  close(fd);
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace aioh
