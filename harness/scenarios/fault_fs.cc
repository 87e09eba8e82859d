// A request held in flight by the fs fault layer's delay:MS: the fault
// filesystem sleeps before answering, so the scenario can watch what each
// interface does while a real file request is stuck in the FUSE daemon. Mode
// "timeout": a short wait must time out the interface's way (io_getevents
// returns 0, io_uring_wait_cqe_timeout ETIME, aio_suspend EAGAIN) and a later
// wait then reaps the completion with its data intact. Mode "cancel": the
// interface's cancel is tried on the stuck request (io_cancel,
// IORING_OP_ASYNC_CANCEL, aio_cancel) and the table records its answer and how
// the request then ends. The daemon signals an eventfd when the request
// enters it, so no sleep decides whether it is in flight. Also a write the
// daemon completes short, checked byte by byte on the file.
#include <sys/stat.h>

#include <chrono>
#include <cstring>

#include "errno_names.h"
#include "faults/fault.h"
#include "scenarios/common.h"
#include "timespec.h"

namespace aioh {
namespace {

void fault_fs_delay(CaseContext& ctx) {
  std::string mode = ctx.str("mode");
  bool is_write = ctx.str("op") == "write";
  size_t len = ctx.num("len");
  int64_t offset = ctx.num("offset");
  int fd = ctx.scratch_file("data", ctx.num("file_size"), O_RDWR | (ctx.flag("direct") ? O_DIRECT : 0));
  if (fd < 0) ctx.broken(std::string("cannot open the file on the fault fs: ") + errno_name(errno));
  AlignedBuffer buf(len);
  if (is_write) fill_pattern(buf.data(), len, kWriteSeed, offset);
  Request r = scn::read_req(fd, buf.data(), len, offset, 1);
  if (is_write) r.op = Op::write;

  faults::arm();
  scn::setup_or_broken(ctx);
  auto t0 = std::chrono::steady_clock::now();
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto ms_since = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  ctx.note("submit returned after " + std::to_string(ms_since()) + " ms");
  ctx.check(faults::fs_wait_entered(5000), "the request never reached the fault fs daemon");

  std::map<uint64_t, Completion> got;
  if (mode == "timeout") {
    int64_t short_ms = ctx.num("short_ms");
    std::vector<Completion> out;
    Outcome w = ctx.backend().wait(1, 1, ms_to_timespec(short_ms), out);
    ctx.observe(w);
    for (auto& c : out) {
      got[c.tag] = c;
      ctx.observe(c.result);
    }
  } else {
    ctx.observe(ctx.backend().cancel(r));
  }
  if (!got.count(1)) {
    int64_t ms = ctx.num("timeout_ms");
    got = scn::reap_observed(ctx, 1, ms_to_timespec(ms));
  }
  ctx.note("the request ended after " + std::to_string(ms_since()) + " ms");
  faults::disarm();

  if (got.count(1) && !got[1].result.is_error) {
    if (is_write) {
      std::string bad = verify_file(fd, offset, static_cast<size_t>(got[1].result.value), kWriteSeed);
      ctx.check(bad.empty(), "the delayed write reported success but " + bad);
    } else {
      scn::verify_read(ctx, got[1], buf.data(), offset);
    }
  }
  Outcome t = ctx.backend().teardown();
  ctx.check(!t.is_error, "teardown failed: " + t.str());
}

// A write the fault fs completes short (short:N): whatever the interface
// reports, the file must hold the new bytes for the N the daemon took and the
// old bytes after them. A count must be N; an error is noted with what it hid.
void fault_fs_short_write(CaseContext& ctx) {
  size_t len = ctx.num("len"), taken = ctx.num("short");
  int64_t offset = ctx.num("offset");
  int fd = ctx.scratch_file("data", ctx.num("file_size"), O_RDWR | (ctx.flag("direct") ? O_DIRECT : 0));
  if (fd < 0) ctx.broken(std::string("cannot open the file on the fault fs: ") + errno_name(errno));
  AlignedBuffer buf(len);
  fill_pattern(buf.data(), len, kWriteSeed, offset);
  Request r = scn::read_req(fd, buf.data(), len, offset, 1);
  r.op = Op::write;
  faults::arm();
  scn::setup_or_broken(ctx);
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  faults::disarm();
  std::string bad = verify_file(fd, offset, taken, kWriteSeed);
  ctx.check(bad.empty(), "the part the daemon took is not on the file: " + bad);
  bad = verify_file(fd, offset + static_cast<int64_t>(taken), len - taken, kFileSeed);
  ctx.check(bad.empty(), "bytes past the short count changed: " + bad);
  if (got.count(1) && got[1].result.is_error)
    ctx.note("reported " + got[1].result.str() + " although " + std::to_string(taken) + " bytes were written");
  Outcome t = ctx.backend().teardown();
  ctx.check(!t.is_error, "teardown failed: " + t.str());
}

}  // namespace
}  // namespace aioh

AIOH_SCENARIO(fault_fs_delay,
              aioh::param::choice("mode", "timeout", {"timeout", "cancel"},
                                  "while the fault fs holds the request: a wait that times out, or a cancel"),
              aioh::param::choice("op", "read", {"read", "write"}, "the request"),
              aioh::param::integer("len", 4096, "bytes to transfer", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 0, "file offset of the request", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("file_size", 65536, "bytes of the file on the fault fs", 0, aioh::param::kMaxFileSize),
              aioh::param::boolean("direct", false, "open the file with O_DIRECT"),
              aioh::param::integer("short_ms", 200, "the wait that must time out (mode timeout)", 0, aioh::param::kMaxMs),
              aioh::param::integer("timeout_ms", 10000, "how long to wait for the completion after that", 0,
                                   aioh::param::kMaxMs)) {
  aioh::fault_fs_delay(ctx);
}
AIOH_SCENARIO(fault_fs_short_write,
              aioh::param::integer("len", 4096, "bytes of the write", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("short", 1024, "bytes the fault fs takes (its short:N; at most len)", 0,
                                   aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 8192, "file offset of the write", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("file_size", 65536, "bytes of the file on the fault fs", 0, aioh::param::kMaxFileSize),
              aioh::param::boolean("direct", false, "open the file with O_DIRECT")) {
  aioh::fault_fs_short_write(ctx);
}
