// io_submit(2) on kernel AIO and libaio: what one iocb may carry (opcodes,
// aio_rw_flags, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, reserved fields, fds of
// the wrong kind or mode, buffers that fault) and where each answer arrives
// (the call, or io_event.res); how a batch stops at the first bad iocb and
// what becomes of the rest; and the call's own argument checks. The iocb is
// built from the row and patched raw where a Request cannot say it, then
// sent through the backend's own io_submit, so the convention is checked too.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <sstream>
#include <vector>

#include "kaio_util.h"
#include "pattern.h"

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020  // linux 6.9 include/uapi/linux/fs.h
#endif

namespace aioh {
namespace {

using kaio::aio;

int rwf_from_names(CaseContext& ctx, const std::string& names) {
  int f = 0;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, '|')) {
    if (n == "HIPRI") f |= RWF_HIPRI;
    else if (n == "DSYNC") f |= RWF_DSYNC;
    else if (n == "SYNC") f |= RWF_SYNC;
    else if (n == "NOWAIT") f |= RWF_NOWAIT;
    else if (n == "APPEND") f |= RWF_APPEND;
    else if (n == "NOAPPEND") f |= RWF_NOAPPEND;
    else if (!n.empty()) ctx.broken("unknown RWF_ name in row: " + n);
  }
  return f;
}

Op op_from_name(CaseContext& ctx, const std::string& s) {
  if (s == "read") return Op::read;
  if (s == "write") return Op::write;
  if (s == "readv") return Op::readv;
  if (s == "writev") return Op::writev;
  if (s == "fsync") return Op::fsync;
  if (s == "fdsync") return Op::fdatasync;
  if (s == "poll") return Op::poll;
  if (s == "nop") return Op::nop;
  ctx.broken("unknown op in row: " + s);
}

// Clears CAP_SYS_ADMIN and CAP_SYS_NICE from this (forked, per-case)
// process's effective set: what IOPRIO_CLASS_RT needs (block/ioprio.c).
void drop_priority_caps(CaseContext& ctx) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0) ctx.broken("capget failed");
  d[0].effective &= ~((1u << CAP_SYS_ADMIN) | (1u << CAP_SYS_NICE));
  if (syscall(SYS_capset, &h, d) != 0) ctx.broken("capset failed");
}

struct Fds {
  std::vector<int> owned;
  ~Fds() {
    for (int fd : owned) close(fd);
  }
  int keep(int fd) {
    if (fd >= 0) owned.push_back(fd);
    return fd;
  }
};

AIOH_SCENARIO(kaio_submit_one,
              aioh::param::optional_choice("fs", {}, "skip unless the scratch filesystem is this one (the row's source describes it)"),
              aioh::param::choice("op", "read", {"read", "write", "readv", "writev", "fsync", "fdsync", "poll", "nop"},
                                  "the iocb's opcode"),
              aioh::param::choice("fd", "file",
                                  {"file", "rdonly", "wronly", "append", "direct", "badfd", "eventfd", "procfile",
                                   "socket", "pipe", "pipe_data", "pipe_w"},
                                  "the descriptor: the scratch file (opened so), no file, or another kind"),
              aioh::param::integer("file_size", 8192, "bytes of the scratch file", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("len", 4096, "aio_nbytes (split over iovcnt for readv/writev)", 0,
                                   aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 0, "aio_offset"),
              aioh::param::optional_integer("lands_at", "where a write must land (absent: offset)", 0,
                                            aioh::param::kMaxFileSize),
              aioh::param::integer("poll_events", POLLIN, "the poll mask of an IOCB_CMD_POLL", 0, 0xffff),
              aioh::param::list("rwf", "", '|', {"HIPRI", "DSYNC", "SYNC", "NOWAIT", "APPEND", "NOAPPEND"},
                                "aio_rw_flags, RWF_ names joined by |"),
              aioh::param::optional_integer("rwf_raw", "aio_rw_flags as a raw value, instead of rwf", INT32_MIN,
                                            INT32_MAX),
              aioh::param::integer("opcode", -1, "a raw aio_lio_opcode instead of op's (-1: op's)", -1, 0xffff),
              aioh::param::integer("iovcnt", 2, "iovecs of a readv/writev", 0, 1 << 16),
              aioh::param::choice("buf", "ok", {"ok", "unmapped"}, "the buffer: ours, or a page that faults"),
              aioh::param::choice("resfd", "none", {"none", "eventfd", "file", "badfd"},
                                  "IOCB_FLAG_RESFD with this descriptor"),
              aioh::param::optional_integer("ioprio_class", "IOCB_FLAG_IOPRIO with this class (3 bits)", 0, 7),
              aioh::param::integer("ioprio_level", 0, "the priority level with ioprio_class (13 bits)", 0, 0x1fff),
              aioh::param::optional_integer("reserved2", "a value in the reserved aio_reserved2 field"),
              aioh::param::optional_integer("nbytes_raw", "aio_nbytes as a raw value (-1: SIZE_MAX)"),
              aioh::param::boolean("drop_caps", false, "drop CAP_SYS_ADMIN and CAP_SYS_NICE before submitting"),
              aioh::param::optional_integer("size_after", "the file size the request must leave", 0,
                                            aioh::param::kMaxFileSize)) {
  AioBackendBase& be = aio(ctx);
  if (ctx.has("fs") && ctx.env().text("scratch_fs") != ctx.str("fs"))
    ctx.skip("the row describes " + ctx.str("fs") + "; scratch is " +
             ctx.env().text("scratch_fs"));
  kaio::setup_or_broken(ctx);
  Fds fds;
  const Op op = op_from_name(ctx, ctx.str("op"));
  const std::string fdkind = ctx.str("fd");
  const size_t file_size = static_cast<size_t>(ctx.num("file_size"));
  const size_t len = static_cast<size_t>(ctx.num("len"));
  const int64_t offset = ctx.num("offset");
  const bool is_file = fdkind == "file" || fdkind == "rdonly" ||
                       fdkind == "wronly" || fdkind == "append" ||
                       fdkind == "direct";
  int fd = -1;
  if (is_file) {
    int flags = fdkind == "rdonly" ? O_RDONLY
                : fdkind == "wronly" ? O_WRONLY
                : fdkind == "append" ? O_RDWR | O_APPEND
                : fdkind == "direct" ? O_RDWR | O_DIRECT
                                     : O_RDWR;
    fd = fds.keep(ctx.scratch_file("data", file_size, flags));
    if (fd < 0) ctx.broken("cannot open scratch file");
  } else if (fdkind == "badfd") {
    fd = 0x7ffffff0;  // far above any open descriptor
  } else if (fdkind == "eventfd") {
    fd = fds.keep(eventfd(0, EFD_CLOEXEC));
  } else if (fdkind == "procfile") {
    // A procfs seq_file: no FMODE_NOWAIT. Read-only, outside nothing we own.
    fd = fds.keep(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  } else if (fdkind == "socket") {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      ctx.broken("socketpair failed");
    fds.keep(sv[0]);
    fds.keep(sv[1]);
    fd = sv[0];
  } else {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
    fds.keep(p[0]);
    fds.keep(p[1]);
    if (fdkind == "pipe_data" && write(p[1], "kaio", 4) != 4)
      ctx.broken("cannot fill pipe");
    fd = fdkind == "pipe_w" ? p[1] : p[0];
  }

  AlignedBuffer buf(len ? len : 1, 4096);
  const int64_t lands_at = ctx.has("lands_at") ? ctx.num("lands_at") : offset;
  const bool writes = op == Op::write || op == Op::writev;
  if (writes) fill_pattern(buf.data(), len, kWriteSeed, lands_at);

  Request r;
  r.op = op;
  r.fd = fd;
  r.buf = buf.data();
  r.len = len;
  r.offset = offset;
  r.tag = 0xa10;
  r.poll_events = static_cast<short>(ctx.num("poll_events"));
  r.rw_flags = ctx.has("rwf_raw") ? static_cast<int>(ctx.num("rwf_raw"))
                                  : rwf_from_names(ctx, ctx.str("rwf"));
  r.raw_opcode = static_cast<int>(ctx.num("opcode"));
  if (op == Op::readv || op == Op::writev) {
    size_t n = static_cast<size_t>(ctx.num("iovcnt"));
    size_t piece = n ? std::max<size_t>(len / n, 1) : 0;
    for (size_t i = 0; i < n; ++i)
      r.iov.push_back(iovec{buf.data() + std::min(i * piece, len - 1), piece});
  }
  kaio::FaultPage fault;
  if (ctx.str("buf") == "unmapped") r.buf = fault.get();
  int efd = -1;
  const std::string resfd = ctx.str("resfd");
  if (resfd == "eventfd") r.resfd = efd = fds.keep(eventfd(0, EFD_CLOEXEC));
  else if (resfd == "file") r.resfd = fd;
  else if (resfd == "badfd") r.resfd = 0x7ffffff0;

  KIocb cb;
  build_iocb(r, r.iov, cb);
  if (ctx.has("ioprio_class")) {
    cb.aio_flags |= kIocbFlagIoprio;
    // The raw uapi encoding (include/uapi/linux/ioprio.h: class in bits
    // 13..15, data in 0..12). Not <linux/ioprio.h>: linux-libc-dev 6.1.192
    // names a parameter `class` there (no longer C++), and its
    // IOPRIO_PRIO_VALUE now turns a bad class into IOPRIO_CLASS_INVALID
    // instead of sending it to the kernel.
    cb.aio_reqprio = static_cast<int16_t>(((ctx.num("ioprio_class") & 0x7) << 13) |
                                          (ctx.num("ioprio_level") & 0x1fff));
  }
  if (ctx.has("reserved2")) cb.aio_reserved2 = static_cast<uint64_t>(ctx.num("reserved2"));
  if (ctx.has("nbytes_raw")) cb.aio_nbytes = static_cast<uint64_t>(ctx.num("nbytes_raw"));

  if (ctx.flag("drop_caps")) drop_priority_caps(ctx);

  KIocb* arr[1] = {&cb};
  Outcome s = be.raw_submit(be.context(), 1, arr);
  ctx.observe(s);
  if (s.is_error || s.value != 1) return;

  KIoEvent ev;
  timespec ts{5, 0};
  Outcome w = be.raw_getevents(be.context(), 1, 1, &ev, &ts);
  if (w.is_error || w.value != 1) {
    ctx.observe(w);
    return;
  }
  ctx.check(ev.data == r.tag, "io_event.data does not echo aio_data");
  ctx.check(ev.obj == reinterpret_cast<uintptr_t>(&cb),
            "io_event.obj is not the submitted iocb's address");
  Completion c = AioBackendBase::to_completion(ev);
  ctx.observe(c.result);

  // Data: a read returned the file's bytes; a write landed where it should.
  if (!c.result.is_error && c.result.value > 0 && is_file) {
    if (op == Op::read || op == Op::readv) {
      std::string bad = verify_buffer(buf.data(), static_cast<size_t>(c.result.value),
                                      kFileSeed, static_cast<uint64_t>(offset));
      ctx.check(bad.empty(), bad);
    } else if (writes) {
      std::string bad = verify_file(fd, static_cast<uint64_t>(lands_at),
                                    static_cast<size_t>(c.result.value), kWriteSeed);
      ctx.check(bad.empty(), bad);
    }
  }
  if (ctx.has("size_after")) {
    struct stat st {};
    fstat(fd, &st);
    ctx.check(st.st_size == ctx.num("size_after"),
              "file size " + std::to_string(st.st_size) + ", expected " +
                  std::to_string(ctx.num("size_after")));
  }
  if (efd >= 0) {
    // IOCB_FLAG_RESFD: fs/aio.c aio_complete() signals the eventfd once.
    uint64_t n = 0;
    ctx.check(read(efd, &n, sizeof n) == sizeof n && n == 1,
              "eventfd counter after one completion is " + std::to_string(n));
  }
}

// A batch of iocbs, some bad. Observes io_submit's answer, then each
// completion of the accepted ones, and checks that nothing behind the stop
// point ran.
AIOH_SCENARIO(kaio_submit_batch,
              aioh::param::list("batch", "good", ',', {"good", "null", "unmapped", "badfd", "badop"},
                                "the iocbs in order: a good read, a NULL or unmapped pointer, a bad fd or opcode"),
              aioh::param::choice("array", "ok", {"ok", "unmapped"}, "the iocb array itself: ours, or unmapped")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  std::vector<std::string> kinds;
  {
    std::stringstream ss(ctx.str("batch"));
    std::string k;
    while (std::getline(ss, k, ',')) kinds.push_back(k);
  }
  const size_t n = kinds.size();
  int fd = ctx.scratch_file("data", n * 4096, O_RDONLY);
  if (fd < 0) ctx.broken("cannot open scratch file");
  AlignedBuffer buf(n * 4096);
  std::vector<KIocb> cbs(n);
  std::vector<KIocb*> arr(n);
  kaio::FaultPage fault;
  for (size_t i = 0; i < n; ++i) {
    Request r;
    r.op = Op::read;
    r.fd = kinds[i] == "badfd" ? 0x7ffffff0 : fd;
    r.buf = buf.data() + i * 4096;
    r.len = 4096;
    r.offset = static_cast<int64_t>(i * 4096);
    r.tag = i;
    if (kinds[i] == "badop") r.raw_opcode = 99;
    build_iocb(r, r.iov, cbs[i]);
    arr[i] = kinds[i] == "null"       ? nullptr
             : kinds[i] == "unmapped" ? static_cast<KIocb*>(fault.get())
                                      : &cbs[i];
  }
  KIocb** a = ctx.str("array") == "unmapped" ? static_cast<KIocb**>(fault.get())
                                             : arr.data();
  Outcome s = be.raw_submit(be.context(), static_cast<long>(n), a);
  ctx.observe(s);
  const long accepted = s.is_error ? 0 : s.value;
  if (accepted > 0) {
    std::vector<KIoEvent> evs(n);
    timespec ts{5, 0};
    Outcome w = be.raw_getevents(be.context(), accepted, static_cast<long>(n),
                                 evs.data(), &ts);
    if (w.is_error || w.value != accepted) {
      ctx.observe(w);
      return;
    }
    std::map<uint64_t, KIoEvent> by_tag;
    for (long i = 0; i < w.value; ++i) by_tag[evs[i].data] = evs[i];
    for (auto& [tag, ev] : by_tag) {
      ctx.check(tag < static_cast<uint64_t>(accepted),
                "iocb " + std::to_string(tag) + " behind the stop point completed");
      Completion c = AioBackendBase::to_completion(ev);
      ctx.observe(c.result);
      if (!c.result.is_error && c.result.value > 0) {
        std::string bad = verify_buffer(buf.data() + tag * 4096,
                                        static_cast<size_t>(c.result.value),
                                        kFileSeed, tag * 4096);
        ctx.check(bad.empty(), bad);
      }
    }
  }
  // Nothing else may complete: the iocbs behind the stop were never queued.
  KIoEvent extra[4];
  timespec zero{0, 0};
  Outcome more = be.raw_getevents(be.context(), 0, 4, extra, &zero);
  ctx.check(!more.is_error && more.value == 0,
            "unexpected extra completions: " + more.str());
  close(fd);
}

// io_submit's own arguments.
AIOH_SCENARIO(kaio_submit_args,
              aioh::param::choice("ctx", "ok", {"ok", "bad", "destroyed"}, "the context: ours, never one, destroyed"),
              aioh::param::integer("nr", 1, "io_submit's nr (the array holds one iocb)", INT64_MIN, 1)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  Request r;
  r.op = Op::read;
  r.fd = fd;
  r.buf = buf.data();
  r.len = 4096;
  KIocb cb;
  build_iocb(r, r.iov, cb);
  KIocb* arr[1] = {&cb};
  AioContext c = be.context();
  const std::string which = ctx.str("ctx");
  if (which == "bad") c = 0x1000;  // page 1: never an aio ring
  if (which == "destroyed") {
    Outcome d = be.raw_destroy(c);
    be.forget_context();
    if (d.is_error) ctx.broken("io_destroy failed: " + d.str());
  }
  ctx.observe(be.raw_submit(c, ctx.num("nr"), arr));
  close(fd);
}

// More requests than the context has room for: fs/aio.c io_submit() clamps
// nr to ctx->nr_events and io_submit_one() stops at the first iocb for which
// get_reqs_available() fails. The exact count depends on the CPU count
// (per-CPU request batches), so it is checked, not tabled; the table holds
// what a full context answers to the next io_submit.
AIOH_SCENARIO(kaio_submit_ring_full,
              aioh::param::integer("entries", 1, "io_setup's nr_events", 1, 4096),
              aioh::param::integer("count", 300, "iocbs passed to each io_submit", 1, 1 << 16)) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx, static_cast<unsigned>(ctx.num("entries")));
  const size_t n = static_cast<size_t>(ctx.num("count"));
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(512);
  std::vector<KIocb> cbs(n);
  std::vector<KIocb*> arr(n);
  for (size_t i = 0; i < n; ++i) {
    Request r = {};
    r.op = Op::read;
    r.fd = fd;
    r.buf = buf.data();
    r.len = 512;
    r.tag = i;
    build_iocb(r, r.iov, cbs[i]);
    arr[i] = &cbs[i];
  }
  Outcome first = be.raw_submit(be.context(), static_cast<long>(n), arr.data());
  ctx.note("first io_submit of " + std::to_string(n) + " accepted " + first.str());
  ctx.check(!first.is_error && first.value > 0 && first.value < static_cast<int64_t>(n),
            "expected a partial submission, got " + first.str());
  ctx.observe(be.raw_submit(be.context(), static_cast<long>(n), arr.data()));
  close(fd);
}

}  // namespace
}  // namespace aioh
