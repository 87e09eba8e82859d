// io_submit(2) on kernel AIO and libaio: what one iocb may carry (opcodes,
// aio_rw_flags, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, aio_reqprio without it,
// unknown aio_flags bits, reserved fields, an iocb in read-only memory),
// which file it may name (regular, O_DIRECT, O_APPEND, pipes and FIFOs with
// and without the other end, sockets, eventfds, epoll fds, directories,
// procfs files, O_PATH descriptors), which offsets (negative, overflowing,
// at the filesystem's maximum file size) and buffers (unmapped, read-only,
// NULL with length 0, an unmapped iovec array), where each answer
// arrives (the call, or io_event.res) and in what order fs/aio.c checks them;
// how a batch stops at the first bad iocb and what becomes of the rest; the
// call's own argument checks; and a full ring, also one whose events user
// space consumed by moving ring->head. The iocb is built from the row and
// patched raw where a Request cannot say it, then sent through the backend's
// own io_submit, so the convention is checked too.
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"
#include "kaio_util.h"
#include "pattern.h"
#include "rwf_compat.h"


namespace aioh {
namespace {

using kaio::aio;

const std::vector<std::string> kRwfNames = {"HIPRI", "DSYNC", "SYNC", "NOWAIT", "APPEND",
                                            "NOAPPEND", "ATOMIC", "DONTCACHE", "NOSIGNAL"};

int rwf_from_names(const std::string& names) {
  static const int bits[] = {RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND,
                             RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE, RWF_NOSIGNAL};
  int f = 0;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, '|'))
    for (size_t i = 0; i < kRwfNames.size(); ++i)
      if (n == kRwfNames[i]) f |= bits[i];
  return f;
}

Op op_from_name(const std::string& s) {
  static const std::map<std::string, Op> ops = {
      {"read", Op::read},   {"write", Op::write}, {"readv", Op::readv},  {"writev", Op::writev},
      {"fsync", Op::fsync}, {"fdsync", Op::fdatasync}, {"poll", Op::poll}, {"nop", Op::nop}};
  return ops.at(s);
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

bool is_file_kind(const std::string& k) {
  return k == "file" || k == "rdonly" || k == "wronly" || k == "append" || k == "direct";
}

int open_scratch_file(CaseContext& ctx, Fds& fds, const std::string& kind, size_t size) {
  int flags = kind == "rdonly" ? O_RDONLY
              : kind == "wronly" ? O_WRONLY
              : kind == "append" ? O_RDWR | O_APPEND
              : kind == "direct" ? O_RDWR | O_DIRECT
                                 : O_RDWR;
  int fd = fds.keep(ctx.scratch_file("data", size, flags));
  if (fd < 0) ctx.broken("cannot open scratch file");
  return fd;
}

// A pipe (or socketpair) end; `data` puts 4 bytes in it first, `noreader`
// closes the read end (the peer socket) so a write meets no reader,
// `nowriter` the write end so the read end hangs up.
int open_pipe_kind(CaseContext& ctx, Fds& fds, const std::string& kind) {
  int p[2];
  if (kind.rfind("socket", 0) == 0) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0) ctx.broken("socketpair failed");
  } else if (pipe2(p, O_CLOEXEC) != 0) {
    ctx.broken("pipe2 failed");
  }
  if (kind == "pipe_nowriter") {
    close(p[1]);
    return fds.keep(p[0]);
  }
  fds.keep(p[1]);
  const bool data = kind == "pipe_data" || kind == "socket_data";
  if (data && write(p[1], "kaio", 4) != 4) ctx.broken("cannot fill the pipe");
  if (kind == "pipe_noreader" || kind == "socket_noreader") {
    close(p[0]);
    return p[1];
  }
  fds.keep(p[0]);
  return kind == "pipe_w" ? p[1] : p[0];
}

// A FIFO in the case directory: "fifo" opened O_RDWR (both ends in one fd),
// "fifo_nowriter" opened O_RDONLY | O_NONBLOCK with no writer anywhere.
int open_fifo(CaseContext& ctx, Fds& fds, const std::string& kind) {
  std::string path = ctx.scratch_dir() + "/fifo";
  if (mkfifo(path.c_str(), 0600) != 0) ctx.broken("mkfifo failed");
  int fd = fds.keep(open(path.c_str(), (kind == "fifo" ? O_RDWR : O_RDONLY | O_NONBLOCK) | O_CLOEXEC));
  if (fd < 0) ctx.broken("cannot open the FIFO");
  return fd;
}

int open_fd(CaseContext& ctx, Fds& fds, const std::string& kind, size_t file_size) {
  if (is_file_kind(kind)) return open_scratch_file(ctx, fds, kind, file_size);
  if (kind == "badfd") return 0x7ffffff0;  // far above any open descriptor
  // An O_PATH descriptor of the scratch file: open, but fget() refuses FMODE_PATH.
  if (kind == "opath") {
    open_scratch_file(ctx, fds, "rdonly", file_size);
    return fds.keep(open((ctx.scratch_dir() + "/data").c_str(), O_PATH | O_CLOEXEC));
  }
  if (kind == "eventfd" || kind == "eventfd_1") return fds.keep(eventfd(kind == "eventfd_1", EFD_CLOEXEC));
  // A procfs seq_file: no FMODE_NOWAIT. Read-only, outside nothing we own.
  if (kind == "procfile") return fds.keep(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  if (kind == "epoll") return fds.keep(epoll_create1(EPOLL_CLOEXEC));
  if (kind == "dir") return fds.keep(open(ctx.scratch_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (kind.rfind("fifo", 0) == 0) return open_fifo(ctx, fds, kind);
  return open_pipe_kind(ctx, fds, kind);
}

// The request the row describes; buffer and iovecs point into `buf`.
Request build_request(CaseContext& ctx, Op op, int fd, AlignedBuffer& buf, size_t len, int64_t offset) {
  Request r;
  r.op = op;
  r.fd = fd;
  r.buf = buf.data();
  r.len = len;
  r.offset = offset;
  r.tag = 0xa10;
  r.poll_events = static_cast<short>(ctx.num("poll_events"));
  r.rw_flags = ctx.has("rwf_raw") ? static_cast<int>(ctx.num("rwf_raw")) : rwf_from_names(ctx.str("rwf"));
  if (ctx.has("opcode")) r.raw_opcode = static_cast<int>(ctx.num("opcode"));
  if (op == Op::readv || op == Op::writev) {
    size_t n = static_cast<size_t>(ctx.num("iovcnt"));
    size_t piece = n ? std::max<size_t>(len / n, 1) : 0;
    for (size_t i = 0; i < n; ++i)
      r.iov.push_back(iovec{buf.data() + std::min(i * piece, len - 1), piece});
  }
  return r;
}

// What the row sets in the iocb beyond the Request: IOCB_FLAG_IOPRIO and its
// value, aio_reqprio without the flag, extra aio_flags bits, reserved2,
// a raw aio_nbytes or aio_buf (a poll mask past 16 bits, a buffer on fsync,
// NULL), a preset aio_key.
void patch_iocb(CaseContext& ctx, KIocb& cb) {
  if (ctx.has("ioprio_class")) {
    cb.aio_flags |= kIocbFlagIoprio;
    // The raw uapi encoding (include/uapi/linux/ioprio.h: class in bits
    // 13..15, hint in 3..12, level in 0..2). Not <linux/ioprio.h>:
    // linux-libc-dev 6.1.192 names a parameter `class` there (no longer
    // C++), and its IOPRIO_PRIO_VALUE now turns a bad class into
    // IOPRIO_CLASS_INVALID instead of sending it to the kernel.
    cb.aio_reqprio = static_cast<int16_t>(((ctx.num("ioprio_class") & 0x7) << 13) |
                                          ((ctx.num("ioprio_hint") & 0x3ff) << 3) |
                                          (ctx.num("ioprio_level") & 0x1fff));
  }
  if (ctx.has("reqprio_raw")) cb.aio_reqprio = static_cast<int16_t>(ctx.num("reqprio_raw"));
  if (ctx.has("aio_flags_raw")) cb.aio_flags |= static_cast<uint32_t>(ctx.num("aio_flags_raw"));
  if (ctx.has("reserved2")) cb.aio_reserved2 = static_cast<uint64_t>(ctx.num("reserved2"));
  if (ctx.has("nbytes_raw")) cb.aio_nbytes = static_cast<uint64_t>(ctx.num("nbytes_raw"));
  if (ctx.has("buf_raw")) cb.aio_buf = static_cast<uint64_t>(ctx.num("buf_raw"));
  if (ctx.has("aio_key")) cb.aio_key = static_cast<uint32_t>(ctx.num("aio_key"));
}

// Where the iocb lives: the caller's memory, or a page that is readable but
// not writable (fs/aio.c __io_submit_one() writes KIOCB_KEY into aio_key).
class IocbHome {
 public:
  IocbHome(CaseContext& ctx, const KIocb& cb) : cb_(cb) {
    if (ctx.str("iocb") != "readonly") return;
    page_ = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page_ == MAP_FAILED) ctx.broken("mmap failed");
    std::memcpy(page_, &cb, sizeof cb);
    if (mprotect(page_, 4096, PROT_READ) != 0) ctx.broken("mprotect failed");
  }
  ~IocbHome() {
    if (page_ != MAP_FAILED) munmap(page_, 4096);
  }
  KIocb* get() { return page_ != MAP_FAILED ? static_cast<KIocb*>(page_) : &cb_; }

 private:
  KIocb cb_;
  void* page_ = MAP_FAILED;
};

// A buffer the row wants unmapped or read-only instead of the normal one.
void* special_buffer(CaseContext& ctx, kaio::FaultPage& fault, void*& ro_page) {
  const std::string kind = ctx.str("buf");
  if (kind == "unmapped") return fault.get();
  if (kind != "readonly") return nullptr;
  ro_page = mmap(nullptr, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ro_page == MAP_FAILED) ctx.broken("mmap failed");
  return ro_page;
}

// Reaps the one completion and checks the io_event echoes the iocb.
std::optional<Completion> reap_one(CaseContext& ctx, AioBackendBase& be, const KIocb* cb, uint64_t tag) {
  KIoEvent ev;
  timespec ts{5, 0};
  Outcome w = be.raw_getevents(be.context(), 1, 1, &ev, &ts);
  if (w.is_error || w.value != 1) {
    ctx.observe(w);
    return std::nullopt;
  }
  ctx.check(ev.data == tag, "io_event.data does not echo aio_data");
  ctx.check(ev.obj == reinterpret_cast<uintptr_t>(cb), "io_event.obj is not the submitted iocb's address");
  // fs/aio.c io_submit_one() zeroes ki_res.res2 and no file completion sets it.
  ctx.check(ev.res2 == 0, "io_event.res2 is " + std::to_string(ev.res2) + ", not 0");
  Completion c = AioBackendBase::to_completion(ev);
  ctx.observe(c.result);
  return c;
}

// Data: a read returned the file's bytes; a write landed where it should.
void verify_transfer(CaseContext& ctx, const Completion& c, Op op, int fd, const void* buf,
                     int64_t offset, int64_t lands_at) {
  if (c.result.is_error || c.result.value <= 0) return;
  std::string bad;
  if (op == Op::read || op == Op::readv)
    bad = verify_buffer(buf, static_cast<size_t>(c.result.value), kFileSeed, static_cast<uint64_t>(offset));
  else if (op == Op::write || op == Op::writev)
    bad = verify_file(fd, static_cast<uint64_t>(lands_at), static_cast<size_t>(c.result.value), kWriteSeed);
  ctx.check(bad.empty(), bad);
}

// An eventfd's counter, read without blocking (0 when it is zero), and put
// back; -1 when it cannot be read.
int64_t eventfd_counter(int efd) {
  int fl = fcntl(efd, F_GETFL);
  if (fl < 0 || fcntl(efd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  uint64_t n = 0;
  ssize_t r = read(efd, &n, sizeof n);
  int64_t v = r == sizeof n ? static_cast<int64_t>(n) : (r < 0 && errno == EAGAIN ? 0 : -1);
  if (v > 0 && write(efd, &n, sizeof n) != sizeof n) v = -1;
  fcntl(efd, F_SETFL, fl);
  return v;
}

bool is_eventfd_kind(const std::string& k) { return k == "eventfd" || k == "eventfd_1"; }

// The 8 bytes a read from an eventfd delivered, and its counter afterwards
// (eventfd(2): a read returns the counter and resets it to 0; a write adds
// its 8-byte value).
void check_eventfd(CaseContext& ctx, int fd, const Completion& c, Op op, const void* buf) {
  if (ctx.has("efd_read") && op == Op::read && !c.result.is_error && c.result.value == 8) {
    uint64_t got = 0;
    std::memcpy(&got, buf, sizeof got);
    ctx.check(got == static_cast<uint64_t>(ctx.num("efd_read")),
              "the read delivered " + std::to_string(got) + ", not the counter " + std::to_string(ctx.num("efd_read")));
  }
  if (ctx.has("efd_after")) {
    int64_t now = eventfd_counter(fd);
    ctx.check(now == ctx.num("efd_after"),
              "eventfd counter after the request is " + std::to_string(now) + ", expected " + std::to_string(ctx.num("efd_after")));
  }
}

// After the completion: the file's size, the RESFD eventfd's counter,
// whether SIGPIPE was raised (it is blocked for the case), aio_key.
void check_after(CaseContext& ctx, int fd, int efd, const KIocb* cb) {
  if (ctx.has("size_after")) {
    struct stat st {};
    fstat(fd, &st);
    ctx.check(st.st_size == ctx.num("size_after"),
              "file size " + std::to_string(st.st_size) + ", expected " + std::to_string(ctx.num("size_after")));
  }
  if (efd >= 0) {
    // IOCB_FLAG_RESFD: fs/aio.c aio_complete() signals the eventfd once.
    uint64_t n = 0;
    ctx.check(read(efd, &n, sizeof n) == sizeof n && n == 1,
              "eventfd counter after one completion is " + std::to_string(n));
  }
  if (ctx.str("sigpipe") != "any") {
    sigset_t pend;
    sigpending(&pend);
    const bool raised = sigismember(&pend, SIGPIPE);
    ctx.check(raised == (ctx.str("sigpipe") == "raised"),
              std::string("SIGPIPE ") + (raised ? "was" : "was not") + " raised by the write");
  }
  if (ctx.has("key_after"))
    ctx.check(cb->aio_key == static_cast<uint32_t>(ctx.num("key_after")),
              "aio_key after io_submit is " + std::to_string(cb->aio_key));
}

// Page-cache state an O_DIRECT RWF_NOWAIT request meets: "dirty" leaves
// dirty pages over the range (a buffered write), "uncached" drops them.
void prepare_cache(CaseContext& ctx, int fd, size_t len, int64_t offset) {
  const std::string state = ctx.str("cache");
  if (state == "dirty") {
    int bfd = open((ctx.scratch_dir() + "/data").c_str(), O_RDWR | O_CLOEXEC);
    std::vector<uint8_t> b(len);
    fill_pattern(b.data(), len, kFileSeed, static_cast<uint64_t>(offset));
    bool ok = bfd >= 0 && pwrite(bfd, b.data(), len, offset) == static_cast<ssize_t>(len);
    if (bfd >= 0) close(bfd);
    if (!ok) ctx.broken("cannot dirty the page cache");
  } else if (state == "uncached") {
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) ctx.broken("posix_fadvise failed");
  }
  // "stale": the file's times set far in the past, so the write must update
  // them (as for any file last written a clock tick ago or more), never
  // finding them current by the luck of landing in the set-up's tick.
  if (ctx.str("times") == "stale") {
    timespec past[2] = {{1, 0}, {1, 0}};
    if (futimens(fd, past) != 0) ctx.broken("futimens failed");
  }
}

// Everything the one iocb of kaio_submit_one needs, kept alive until the case ends.
struct OneIocb {
  Fds fds;
  int fd = -1, efd = -1;
  int64_t offset = 0, lands_at = 0;
  std::unique_ptr<AlignedBuffer> buf;
  kaio::FaultPage fault;
  void* ro_page = MAP_FAILED;
  Request req;
  KIocb cb;
  ~OneIocb() {
    if (ro_page != MAP_FAILED) munmap(ro_page, 65536);
  }
};

// The file, the offset, the buffer, the Request, IOCB_FLAG_RESFD's target,
// the page cache, then the iocb built from the Request and patched raw.
void prepare_one(CaseContext& ctx, OneIocb& one) {
  const Op op = op_from_name(ctx.str("op"));
  const std::string fdkind = ctx.str("fd");
  const size_t len = static_cast<size_t>(ctx.num("len"));
  one.fd = open_fd(ctx, one.fds, fdkind, static_cast<size_t>(ctx.num("file_size")));
  if (one.fd < 0) ctx.broken("cannot open the " + fdkind);
  one.offset = ctx.num("offset_from_max") >= 0 ? scn::offset_below_max(ctx, one.fd, ctx.num("offset_from_max"), len)
                                               : ctx.num("offset");
  one.lands_at = ctx.num("lands_at") >= 0 ? ctx.num("lands_at") : one.offset;
  one.buf = std::make_unique<AlignedBuffer>(len ? len : 1, 4096);
  if (op == Op::write || op == Op::writev) fill_pattern(one.buf->data(), len, kWriteSeed, one.lands_at);
  // A write to an eventfd carries the 8-byte value to add (-1: 0xffff...ffff,
  // which eventfd(2) refuses), or as much of it as aio_nbytes holds.
  if (op == Op::write && is_eventfd_kind(fdkind)) {
    uint64_t v = static_cast<uint64_t>(ctx.num("efd_value"));
    std::memcpy(one.buf->data(), &v, std::min(len, sizeof v));
  }
  one.req = build_request(ctx, op, one.fd, *one.buf, len, one.offset);
  if (void* b = special_buffer(ctx, one.fault, one.ro_page)) one.req.buf = b;
  const std::string resfd = ctx.str("resfd");
  if (resfd == "eventfd") one.req.resfd = one.efd = one.fds.keep(eventfd(0, EFD_CLOEXEC));
  else if (resfd == "file") one.req.resfd = one.fd;
  else if (resfd == "badfd") one.req.resfd = 0x7ffffff0;
  if (fdkind == "direct") prepare_cache(ctx, one.fd, len, one.offset);
  build_iocb(one.req, one.req.iov, one.cb);
  patch_iocb(ctx, one.cb);
  // The iovec array itself in a PROT_NONE page (readv/writev: aio_buf is the array).
  if (ctx.str("buf") == "iov_unmapped") one.cb.aio_buf = reinterpret_cast<uintptr_t>(one.fault.get());
}

// Params: see the declarations; the iocb is built, patched, placed, submitted.
AIOH_SCENARIO(kaio_submit_one,
              aioh::param::choice("op", "read", {"read", "write", "readv", "writev", "fsync", "fdsync", "poll", "nop"}, "the opcode"),
              aioh::param::choice("fd", "file", {"file", "rdonly", "wronly", "append", "direct", "badfd", "pipe", "pipe_data", "pipe_w", "pipe_noreader", "pipe_nowriter", "eventfd", "eventfd_1", "procfile", "socket", "socket_data", "socket_noreader", "epoll", "dir", "fifo", "fifo_nowriter", "opath"}, "the file the iocb names"),
              aioh::param::boolean("drop_caps", false, "drop CAP_SYS_ADMIN and CAP_SYS_NICE first"),
              aioh::param::integer("file_size", 8192, "scratch file size", 0),
              aioh::param::integer("len", 4096, "aio_nbytes (bytes)", 0),
              aioh::param::integer("offset", 0, "aio_offset"),
              aioh::param::integer("offset_from_max", -1, "aio_offset = the filesystem's maximum file size minus this (-1: unused)", -1),
              aioh::param::integer("iovcnt", 2, "iovecs for readv/writev", 0),
              aioh::param::optional_integer("opcode", "raw aio_lio_opcode (absent: op's)", 0, 65535),
              aioh::param::list("rwf", "", '|', kRwfNames, "RWF_* flags by name"),
              aioh::param::integer("rwf_raw", 0, "raw aio_rw_flags"),
              aioh::param::integer("ioprio_class", 0, "IOCB_FLAG_IOPRIO with this class", 0, 7),
              aioh::param::integer("ioprio_hint", 0, "ioprio hint (bits 3..12)", 0, 1023),
              aioh::param::integer("ioprio_level", 0, "ioprio level/data (bits 0..12)", 0, 8191),
              aioh::param::integer("reqprio_raw", 0, "aio_reqprio without IOCB_FLAG_IOPRIO", -32768, 32767),
              aioh::param::integer("aio_flags_raw", 0, "extra aio_flags bits", 0, UINT32_MAX),
              aioh::param::choice("resfd", "", {"", "eventfd", "file", "badfd"}, "IOCB_FLAG_RESFD target"),
              aioh::param::integer("reserved2", 0, "aio_reserved2"),
              aioh::param::integer("nbytes_raw", 0, "raw aio_nbytes"),
              aioh::param::optional_integer("buf_raw", "raw aio_buf (absent: the request's buffer or poll mask)", 0),
              aioh::param::integer("aio_key", 0, "aio_key preset before io_submit", 0, UINT32_MAX),
              aioh::param::integer("key_after", 0, "aio_key io_submit must leave", 0, UINT32_MAX),
              aioh::param::choice("buf", "ok", {"ok", "unmapped", "readonly", "iov_unmapped"},
                                  "the data buffer (iov_unmapped: the readv/writev iovec array PROT_NONE)"),
              aioh::param::choice("iocb", "normal", {"normal", "readonly"}, "the iocb's own memory"),
              aioh::param::choice("cache", "", {"", "dirty", "uncached"}, "page cache over the range (O_DIRECT rows)"),
              aioh::param::choice("times", "", {"", "stale"}, "the file's times before the request (O_DIRECT rows): far in the past"),
              aioh::param::choice("sigpipe", "any", {"any", "raised", "none"}, "SIGPIPE (blocked) must / must not be pending after"),
              aioh::param::integer("poll_events", POLLIN, "IOCB_CMD_POLL events"),
              aioh::param::integer("lands_at", -1, "where a write's bytes must land (-1: aio_offset)", -1),
              aioh::param::integer("size_after", 0, "file size after the request"),
              aioh::param::integer("efd_value", 1, "the 8-byte value a write to an eventfd carries (-1: 0xffffffffffffffff)", -1),
              aioh::param::optional_integer("efd_read", "the value a read from an eventfd must deliver", 0),
              aioh::param::optional_integer("efd_after", "the eventfd's counter after the completion", 0),
              aioh::param::text("fs", "", "run only on a scratch filesystem of this type")) {
  AioBackendBase& be = aio(ctx);
  if (ctx.has("fs") && ctx.env().text("scratch_fs") != ctx.str("fs"))
    ctx.skip("the row describes " + ctx.str("fs") + "; scratch is " + ctx.env().text("scratch_fs"));
  kaio::setup_or_broken(ctx);
  sigset_t pipe_mask;
  sigemptyset(&pipe_mask);
  sigaddset(&pipe_mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe_mask, nullptr);  // a write to a broken pipe raises it: observed, not suffered
  OneIocb one;
  prepare_one(ctx, one);
  IocbHome home(ctx, one.cb);
  if (ctx.flag("drop_caps")) drop_priority_caps(ctx);
  KIocb* arr[1] = {home.get()};
  Outcome s = be.raw_submit(be.context(), 1, arr);
  ctx.observe(s);
  const bool efd_target = is_eventfd_kind(ctx.str("fd"));
  if (s.is_error || s.value != 1) {
    // Refused: nothing reached the eventfd, its counter is what eventfd() set.
    if (efd_target) {
      const int64_t counter = eventfd_counter(one.fd);
      ctx.check(counter == (ctx.str("fd") == "eventfd_1" ? 1 : 0),
                "a refused iocb changed the eventfd's counter to " + std::to_string(counter));
    }
    return;
  }
  if (auto c = reap_one(ctx, be, home.get(), one.req.tag)) {
    if (is_file_kind(ctx.str("fd")))
      verify_transfer(ctx, *c, one.req.op, one.fd, one.req.buf, one.offset, one.lands_at);
    if (efd_target) check_eventfd(ctx, one.fd, *c, one.req.op, one.req.buf);
    check_after(ctx, one.fd, one.efd, home.get());
  }
}

// A batch of iocbs, some bad. Params: batch = comma list of good | null |
// unmapped | badfd | badop; array = "unmapped" to pass an unmapped array.
// Observes io_submit's answer, then each completion of the accepted ones,
// and checks that nothing behind the stop point ran.
AIOH_SCENARIO(kaio_submit_batch,
              aioh::param::list("batch", "good", ',', {"good", "null", "unmapped", "badfd", "badop"}, "the iocbs in order"),
              aioh::param::choice("array", "", {"", "unmapped"}, "the iocb pointer array itself")) {
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
  KIocb** a = ctx.str("array") == "unmapped" ? static_cast<KIocb**>(fault.get()) : arr.data();
  Outcome s = be.raw_submit(be.context(), static_cast<long>(n), a);
  ctx.observe(s);
  const long accepted = s.is_error ? 0 : s.value;
  if (accepted > 0) {
    std::vector<KIoEvent> evs(n);
    timespec ts{5, 0};
    Outcome w = be.raw_getevents(be.context(), accepted, static_cast<long>(n), evs.data(), &ts);
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
        std::string bad = verify_buffer(buf.data() + tag * 4096, static_cast<size_t>(c.result.value),
                                        kFileSeed, tag * 4096);
        ctx.check(bad.empty(), bad);
      }
    }
  }
  // Nothing else may complete: the iocbs behind the stop were never queued.
  KIoEvent extra[4];
  timespec zero{0, 0};
  Outcome more = be.raw_getevents(be.context(), 0, 4, extra, &zero);
  ctx.check(!more.is_error && more.value == 0, "unexpected extra completions: " + more.str());
  close(fd);
}

// io_submit's own arguments. Params: ctx (ok bad destroyed zero), nr,
// array (ok null), iocb (good badfd badop: the one iocb in the array).
AIOH_SCENARIO(kaio_submit_args,
              aioh::param::choice("ctx", "ok", {"ok", "bad", "destroyed", "zero"}, "the context passed"),
              aioh::param::integer("nr", 1, "nr passed to io_submit"),
              aioh::param::choice("array", "ok", {"ok", "null"}, "the iocb pointer array"),
              aioh::param::choice("iocb", "good", {"good", "badfd", "badop", "badfd_badop"}, "the iocb in the array")) {
  AioBackendBase& be = aio(ctx);
  kaio::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  AlignedBuffer buf(4096);
  Request r;
  r.op = Op::read;
  r.fd = ctx.str("iocb").rfind("badfd", 0) == 0 ? 0x7ffffff0 : fd;
  r.buf = buf.data();
  r.len = 4096;
  if (ctx.str("iocb").find("badop") != std::string::npos) r.raw_opcode = 99;
  KIocb cb;
  build_iocb(r, r.iov, cb);
  KIocb* arr[1] = {&cb};
  AioContext c = be.context();
  const std::string which = ctx.str("ctx");
  if (which == "bad") c = 0x1000;  // page 1: never an aio ring
  if (which == "zero") c = 0;
  if (which == "destroyed") {
    Outcome d = be.raw_destroy(c);
    be.forget_context();
    if (d.is_error) ctx.broken("io_destroy failed: " + d.str());
  }
  ctx.observe(be.raw_submit(c, ctx.num("nr"), ctx.str("array") == "null" ? nullptr : arr));
  close(fd);
}

// The number of CPUs the kernel counts as possible (num_possible_cpus()),
// from /sys/devices/system/cpu/possible ("0-3,8-11"); 0 if unreadable.
unsigned possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  if (!(in >> list)) return 0;
  unsigned n = 0;
  std::stringstream ranges(list);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    unsigned lo = 0, hi = 0;
    const int got = sscanf(range.c_str(), "%u-%u", &lo, &hi);
    if (got < 1) return 0;
    n += got == 2 && hi >= lo ? hi - lo + 1 : 1;
  }
  return n;
}

// Pins the case to the CPU it runs on: fs/aio.c hands out requests in
// per-CPU batches, and a migration mid-call would strand the rest of a batch.
void pin_to_this_cpu(CaseContext& ctx) {
  cpu_set_t one;
  CPU_ZERO(&one);
  const int here = sched_getcpu();
  CPU_SET(here < 0 ? 0 : here, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) ctx.broken(std::string("sched_setaffinity: ") + errno_name(errno));
}

// More requests than the context has room for. fs/aio.c: io_setup sizes the
// ring for 2 * max(nr_events, 4 * possible CPUs) events (rounded up to whole
// pages: ring->nr), makes ring->nr - 1 requests available, handed to each
// CPU in batches of req_batch = (ring->nr - 1) / (4 * possible CPUs);
// io_submit clamps nr to ring->nr and stops at the first iocb for which
// get_reqs_available() finds neither a per-CPU request nor a whole batch
// (nothing is refilled while no event is reaped). Pinned to one CPU, the
// first call therefore accepts exactly min(count, ring->nr,
// floor((ring->nr - 1) / req_batch) * req_batch), at least nr_events
// (io_setup(2): 'capable of receiving at least nr_events events'); the
// table holds what a full context answers to the next io_submit.
AIOH_SCENARIO(kaio_submit_ring_full,
              aioh::param::integer("entries", 1, "io_setup nr_events", 1),
              aioh::param::integer("count", 300, "iocbs in each io_submit", 1, 100000)) {
  AioBackendBase& be = aio(ctx);
  const unsigned cpus = possible_cpus();
  if (cpus == 0) ctx.broken("cannot read /sys/devices/system/cpu/possible");
  pin_to_this_cpu(ctx);
  const unsigned entries = static_cast<unsigned>(ctx.num("entries"));
  kaio::setup_or_broken(ctx, entries);
  const auto* ring = reinterpret_cast<const AioRingHeader*>(be.context());
  if (ring->magic != kAioRingMagic) ctx.broken("the context is not a mapped aio ring");
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
  const uint64_t nr = ring->nr;
  const uint64_t batch = std::max<uint64_t>(1, (nr - 1) / (4 * cpus));
  const uint64_t room = (nr - 1) / batch * batch;
  const uint64_t want = std::min<uint64_t>({n, nr, room});
  Outcome first = be.raw_submit(be.context(), static_cast<long>(n), arr.data());
  ctx.note(fmt::format("ring->nr {}, {} possible CPUs, batch {}: first io_submit of {} accepted {}", nr, cpus, batch,
                       n, first.str()));
  ctx.check(nr >= 2 * std::max<uint64_t>(entries, 4 * cpus),
            fmt::format("ring->nr {} is less than 2 * max(nr_events {}, 4 * {} CPUs)", nr, entries, cpus));
  ctx.check(!first.is_error && static_cast<uint64_t>(first.value) == want,
            fmt::format("the first io_submit of {} accepted {}, expected {}", n, first.str(), want));
  ctx.check(!first.is_error && first.value >= static_cast<int64_t>(std::min<size_t>(entries, n)),
            fmt::format("the first io_submit accepted {}, fewer than nr_events {}", first.str(), entries));
  ctx.observe(be.raw_submit(be.context(), static_cast<long>(n), arr.data()));
  close(fd);
}

// Events consumed in user space give their slots back: the ring is filled
// (buffered reads of a cached file complete inside io_submit, so every
// accepted iocb's event is in the ring) until io_submit refuses (EAGAIN); then
// ring->head is set to ring->tail, as a reaper reading the ring itself does.
// fs/aio.c __get_reqs_available() -> user_refill_reqs_available() reads
// that head and frees completed_events - (tail - head) slots, so the next
// io_submit is accepted, and io_getevents (aio_read_events_ring(), from the
// user's head) returns that one event and none of the consumed ones.
// Observed: the EAGAIN, the next io_submit, io_getevents' count, the event.
AIOH_SCENARIO(kaio_ring_user_consume,
              aioh::param::integer("count", 300, "iocbs in each filling io_submit", 1, 100000)) {
  AioBackendBase& be = aio(ctx);
  pin_to_this_cpu(ctx);
  kaio::setup_or_broken(ctx, 1);
  auto* ring = reinterpret_cast<volatile AioRingHeader*>(be.context());
  if (ring->magic != kAioRingMagic) ctx.broken("the context is not a mapped aio ring");
  const size_t n = static_cast<size_t>(ctx.num("count"));
  int fd = ctx.scratch_file("data", 4096, O_RDONLY);
  if (fd < 0) ctx.broken("cannot open the scratch file");
  AlignedBuffer buf(512), last(512);
  std::vector<KIocb> cbs(n);
  std::vector<KIocb*> arr(n);
  for (size_t i = 0; i < n; ++i) {
    Request r = make_request(Op::read, fd, buf.data(), 512, 0, i);
    build_iocb(r, r.iov, cbs[i]);
    arr[i] = &cbs[i];
  }
  // Filled until refused, however many CPUs the ring was sized for (each
  // call takes at most ring->nr; the kernel copies the iocbs, so they are reused).
  Outcome full = Outcome::ok(0, Channel::ret, Phase::submit);
  int64_t accepted = 0;
  for (unsigned round = 0; !full.is_error && round <= ring->nr; ++round) {
    full = be.raw_submit(be.context(), static_cast<long>(n), arr.data());
    if (!full.is_error) accepted += full.value;
  }
  const unsigned tail = ring->tail;
  ctx.check(accepted > 0 && tail - ring->head == static_cast<uint64_t>(accepted),
            fmt::format("{} iocbs accepted but {} events in the ring", accepted, tail - ring->head));
  ctx.observe(full);
  if (!full.is_error) return;
  ring->head = tail;  // every event consumed, as by a user-space reaper
  Request r = make_request(Op::read, fd, last.data(), 512, 1024, 0xc0de);
  KIocb cb;
  build_iocb(r, r.iov, cb);
  KIocb* lone[1] = {&cb};
  ctx.observe(be.raw_submit(be.context(), 1, lone));
  std::vector<KIoEvent> evs(n + 1);
  timespec zero{0, 0};
  Outcome w = be.raw_getevents(be.context(), 0, static_cast<long>(evs.size()), evs.data(), &zero);
  ctx.observe(w);
  if (!w.is_error && w.value == 1) {
    ctx.check(evs[0].data == 0xc0de, fmt::format("io_getevents returned a consumed event (aio_data {})", evs[0].data));
    Completion c = AioBackendBase::to_completion(evs[0]);
    ctx.observe(c.result);
    if (evs[0].data == 0xc0de) scn::verify_read(ctx, c, last.data(), 1024);
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
