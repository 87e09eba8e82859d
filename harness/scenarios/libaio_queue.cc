// libaio's queue helpers, which have no kernel-AIO counterpart: io_queue_init
// (maxevents <= 0 is -EINVAL without a system call; it sets *ctxp to NULL
// itself, so a non-zero initial context is fine where io_setup refuses it),
// io_queue_release (io_destroy under another name: a second release is
// -EINVAL), and io_queue_run (reaps with a zero timeout and calls the
// callback io_set_callback() stored in aio_data for each event, returning
// the last io_getevents answer: 0 once the ring is empty). libaio's own
// convention holds throughout: the negated errno, errno untouched.
#include <libaio.h>
#include <seccomp.h>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "convention.h"
#include "pattern.h"
#include "scenario.h"

namespace aioh {
namespace {

// What io_queue_run's callbacks saw.
struct Seen {
  int calls = 0;
  std::vector<long> res;
};
Seen g_seen;

void count_callback(io_context_t, struct iocb*, long res, long) {
  g_seen.calls++;
  g_seen.res.push_back(res);
}

Outcome checked(Backend& be, int r, Phase phase, const char* call) {
  return from_neg_errno(r, errno, phase, be.conventions(), call);
}

void need_libaio(CaseContext& ctx) {
  if (ctx.backend().name() != "libaio") ctx.broken("a libaio-only scenario: needs the libaio backend");
}

// io_queue_init(maxevents, &ctx) with *ctxp preset; a seccomp filter fails
// io_setup with EPERM, so a refusal that needed no system call shows as
// libaio's own EINVAL.
AIOH_SCENARIO(libaio_queue_init,
              aioh::param::integer("maxevents", 8, "io_queue_init maxevents", INT32_MIN, INT32_MAX),
              aioh::param::integer("ctx_init", 0, "the value *ctxp holds on entry"),
              aioh::param::boolean("trap_setup", false, "io_setup(2) fails with EPERM under seccomp")) {
  need_libaio(ctx);
  if (ctx.flag("trap_setup")) {
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    bool ok = f && seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_setup), 0) == 0 && seccomp_load(f) == 0;
    if (f) seccomp_release(f);
    if (!ok) ctx.broken("cannot load the seccomp filter");
  }
  io_context_t c = reinterpret_cast<io_context_t>(ctx.num("ctx_init"));
  arm_errno();
  int r = io_queue_init(static_cast<int>(ctx.num("maxevents")), &c);
  ctx.observe(checked(ctx.backend(), r, Phase::setup, "io_queue_init"));
  if (r == 0) {
    arm_errno();
    ctx.observe(checked(ctx.backend(), io_queue_release(c), Phase::teardown, "io_queue_release"));
  }
}

// io_queue_release twice.
AIOH_SCENARIO(libaio_queue_release_twice, aioh::param::none) {
  need_libaio(ctx);
  io_context_t c = nullptr;
  arm_errno();
  int r = io_queue_init(4, &c);
  if (r != 0) ctx.broken("io_queue_init failed: " + std::to_string(r));
  for (int i = 0; i < 2; ++i) {
    arm_errno();
    ctx.observe(checked(ctx.backend(), io_queue_release(c), Phase::teardown, "io_queue_release"));
  }
}

// `count` reads with io_prep_pread + io_set_callback, then io_queue_run:
// its answer, how many callbacks ran (value@completion) and each one's res.
AIOH_SCENARIO(libaio_queue_run,
              aioh::param::integer("count", 2, "reads submitted before io_queue_run", 0, 16)) {
  need_libaio(ctx);
  const int n = static_cast<int>(ctx.num("count"));
  int fd = ctx.scratch_file("data", 16 * 4096, O_RDONLY);
  io_context_t c = nullptr;
  arm_errno();
  if (io_queue_init(32, &c) != 0) ctx.broken("io_queue_init failed");
  AlignedBuffer buf(16 * 4096);
  std::vector<struct iocb> cbs(n);
  std::vector<struct iocb*> ptrs;
  for (int i = 0; i < n; ++i) {
    io_prep_pread(&cbs[i], fd, buf.data() + i * 4096, 4096, i * 4096);
    io_set_callback(&cbs[i], count_callback);
    ptrs.push_back(&cbs[i]);
  }
  if (n > 0) {
    arm_errno();
    ctx.observe(checked(ctx.backend(), io_submit(c, n, ptrs.data()), Phase::submit, "io_submit"));
  }
  g_seen = {};
  arm_errno();
  ctx.observe(checked(ctx.backend(), io_queue_run(c), Phase::wait, "io_queue_run"));
  ctx.observe(Outcome::ok(g_seen.calls, Channel::ret, Phase::completion));
  for (long res : g_seen.res) ctx.observe(from_res_field(res, Channel::io_event_res));
  ctx.check(verify_buffer(buf.data(), static_cast<size_t>(n) * 4096, kFileSeed, 0).empty(),
            "the reads io_queue_run reaped hold wrong bytes");
  arm_errno();
  io_queue_release(c);
  close(fd);
}

}  // namespace
}  // namespace aioh
