// Plain data requests through the backend's Request path (so the backend's
// own SQE building and cqe->res normalisation are what is tested): reads and
// writes at an offset, vectored, short and at EOF, on closed and wrong-mode
// fds, bad offsets, rw_flags and ioprio, unknown opcodes, fsync and
// fdatasync, NOP, POLL_ADD (refused on an IOPOLL ring), O_PATH descriptors,
// the file position with offset -1
// (IORING_FEAT_RW_CUR_POS), and a pipe read whose fd is closed while the
// request is in flight (the request holds its own file reference). Data read
// is compared with the file pattern and data written is read back.
#include <poll.h>
#include <sys/stat.h>

#include "pattern.h"
#include "rwf_compat.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

AIOH_SCENARIO(uring_rw,
              aioh::param::choice("op", "read",
                                  {"read", "write", "readv", "writev", "fsync", "fdatasync", "nop", "poll"},
                                  "the request (poll: POLL_ADD for POLLIN)"),
              aioh::param::choice("fd", "file", {"file", "closed", "rdonly", "wronly", "opath"},
                                  "the descriptor: the file read-write, closed, opened one way only, or O_PATH"),
              aioh::param::integer("file_size", 16384, "bytes of the scratch file", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("len", 4096, "bytes to transfer", 0, aioh::param::kMaxBufferSize),
              aioh::param::integer("offset", 4096, "the SQE's offset (-1: the file position)"),
              aioh::param::boolean("cur_pos", false, "seek to `seek` first; the request reads at the file position"),
              aioh::param::integer("seek", 4096, "the file position cur_pos seeks to", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("rw_flags", 0, "the SQE's rw_flags (RWF_* bits)", INT32_MIN, INT32_MAX),
              aioh::param::integer("reqprio", 0, "the SQE's ioprio", 0, 0xffff),
              aioh::param::integer("raw_opcode", -1, "a raw SQE opcode instead of op's (-1: op's)", -1, 255),
              aioh::param::list("ring_flags", "", '|', aioh::uring::setup_flag_names(), "IORING_SETUP_* flags of the ring")) {
  IoUringBackend& be = up(ctx, 8, setup_flags(ctx, ctx.str("ring_flags")));
  const std::string op = ctx.str("op");
  const std::string which = ctx.str("fd");
  const size_t file_size = static_cast<size_t>(ctx.num("file_size"));
  const size_t len = static_cast<size_t>(ctx.num("len"));
  int64_t offset = ctx.num("offset");
  const bool writing = op == "write" || op == "writev";

  int mode = O_RDWR;
  if (which == "rdonly") mode = O_RDONLY;
  if (which == "wronly") mode = O_WRONLY;
  int fd = ctx.scratch_file("rw", file_size, mode | O_CLOEXEC);
  if (fd < 0) ctx.broken("scratch file open failed");
  int use_fd = which == "closed" ? closed_fd() : fd;
  int path_fd = -1;
  if (which == "opath") {
    // The same file opened O_PATH: a descriptor with no file operations.
    const std::string path = ctx.scratch_dir() + "/rw";
    path_fd = use_fd = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (path_fd < 0) ctx.broken("open O_PATH");
  }
  if (ctx.flag("cur_pos")) {
    if (lseek(fd, ctx.num("seek"), SEEK_SET) < 0) ctx.broken("lseek");
  }

  AlignedBuffer buf(len ? len : 1);
  if (writing) fill_pattern(buf.data(), len, kWriteSeed, offset < 0 ? 0 : offset);
  Request r;
  r.tag = 1;
  r.fd = use_fd;
  r.buf = buf.data();
  r.len = len;
  r.offset = offset;
  r.rw_flags = static_cast<int>(ctx.num("rw_flags"));
  r.reqprio = static_cast<int>(ctx.num("reqprio"));
  r.raw_opcode = static_cast<int>(ctx.num("raw_opcode"));
  if (op == "read") r.op = Op::read;
  else if (op == "write") r.op = Op::write;
  else if (op == "readv" || op == "writev") {
    r.op = op == "readv" ? Op::readv : Op::writev;
    // Two halves, to catch a misplaced second segment.
    r.iov = {{buf.data(), len / 2}, {buf.data() + len / 2, len - len / 2}};
  } else if (op == "fsync") r.op = Op::fsync;
  else if (op == "fdatasync") r.op = Op::fdatasync;
  else if (op == "nop") r.op = Op::nop;
  else if (op == "poll") {
    r.op = Op::poll;
    r.poll_events = POLLIN;
  } else ctx.broken("unknown op " + op);

  ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, ms(5000), out);
  if (w.is_error) ctx.observe(w);
  for (const Completion& c : out) ctx.observe(c.result);
  if (path_fd >= 0) close(path_fd);
  if (out.empty() || out[0].result.is_error || op == "poll") {
    close(fd);
    return;
  }
  const int64_t got = out[0].result.value;
  const int64_t at = ctx.flag("cur_pos") ? ctx.num("seek") : offset;
  if ((op == "read" || op == "readv") && got > 0) {
    std::string bad = verify_buffer(buf.data(), static_cast<size_t>(got),
                                    kFileSeed, static_cast<uint64_t>(at));
    ctx.check(bad.empty(), "read data: " + bad);
  }
  if (writing && got > 0) {
    // Read back through a fresh fd (the request's may be write-only).
    const std::string path = ctx.scratch_dir() + "/rw";
    int rfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string bad = verify_file(rfd, static_cast<uint64_t>(at),
                                  static_cast<size_t>(got), kWriteSeed);
    if (rfd >= 0) close(rfd);
    ctx.check(bad.empty(), "written data: " + bad);
  }
  if (ctx.flag("cur_pos")) {
    // The read advanced the file position like read(2) would.
    off_t pos = lseek(fd, 0, SEEK_CUR);
    ctx.check(pos == at + got, "file position after offset -1 read is " +
                                   std::to_string(pos) + ", expected " +
                                   std::to_string(at + got));
  }
  close(fd);
}

// A read on an empty pipe is pending; the pipe's read fd is closed while it
// is in flight; then data arrives. The request holds its own reference to
// the file, so the close does not end it.
AIOH_SCENARIO(uring_close_in_flight, aioh::param::none) {
  IoUringBackend& be = up(ctx, 8);
  Pipe p;
  if (!p.ok()) ctx.broken("pipe");
  char data[8];
  fill_pattern(data, sizeof data, kWriteSeed, 0);
  char buf[64] = {};
  Request r;
  r.op = Op::read;
  r.fd = p.r();
  r.buf = buf;
  r.len = sizeof buf;
  r.offset = -1;  // pipes have no offset; -1 = "current position"
  r.tag = 1;
  ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  // Still pending before the close (nothing to read yet).
  ctx.observe(be.wait(1, 1, ms(20), out));
  close(p.fd[0]);
  p.fd[0] = -1;
  if (write(p.w(), data, sizeof data) != sizeof data) ctx.broken("pipe write");
  Outcome w = be.wait(1, 1, ms(3000), out);
  if (w.is_error) ctx.observe(w);
  for (const Completion& c : out) ctx.observe(c.result);
  if (!out.empty() && !out[0].result.is_error)
    ctx.check(verify_buffer(buf, static_cast<size_t>(out[0].result.value),
                            kWriteSeed, 0).empty(),
              "pipe data mismatch");
}

#ifndef RWF_HIPRI
#define RWF_HIPRI 0x00000001
#endif

// Per-request rw flags through sqe->rw_flags. mode:
//  nowait-cached (a buffered 4 KiB read with RWF_NOWAIT of data just read:
//    in the page cache) |
//  nowait-uncached (the file's pages dropped first, POSIX_FADV_DONTNEED:
//    io_uring does not retry a RWF_NOWAIT request that would block, -EAGAIN) |
//  nowait-odirect (an O_DIRECT read with RWF_NOWAIT) |
//  nowait-pipe (RWF_NOWAIT on a read of an empty pipe) |
//  hipri (RWF_HIPRI on a ring without IORING_SETUP_IOPOLL) |
//  atomic-read (RWF_ATOMIC on a read) |
//  atomic-buffered-write (RWF_ATOMIC on a buffered write) |
//  atomic-dio-write (RWF_ATOMIC on an aligned 4 KiB O_DIRECT write) |
//  append (a write at offset 0 of an O_APPEND file: it lands at the end) |
//  noappend (the same with RWF_NOAPPEND, at offset 4096: it lands there)
// Data read or written is verified where it must be, and for the O_APPEND
// modes the file's size.
AIOH_URING_CHOICE_SCENARIO(uring_rw_flags, 8, mode, "nowait-cached", "which flag on which file",
                           "nowait-cached", "nowait-uncached", "nowait-odirect", "nowait-pipe", "hipri",
                           "atomic-read", "atomic-buffered-write", "atomic-dio-write", "append", "noappend") {
  const bool odirect = mode == "nowait-odirect" || mode == "atomic-dio-write";
  const bool appending = mode == "append" || mode == "noappend";
  const bool writing = mode == "atomic-buffered-write" || mode == "atomic-dio-write" || appending;
  constexpr size_t kFile = 16384;
  Pipe p;
  int fd = -1;
  if (mode == "nowait-pipe") {
    if (!p.ok()) ctx.broken("pipe");
    fd = p.r();
  } else {
    fd = ctx.scratch_file("rwf", kFile, O_RDWR | O_CLOEXEC | (odirect ? O_DIRECT : 0) | (appending ? O_APPEND : 0));
    if (fd < 0) {
      if (odirect) ctx.skip("open(O_DIRECT) refused on the scratch filesystem (probe: dio)");
      ctx.broken("scratch file");
    }
  }
  AlignedBuffer buf(4096);
  if (mode == "nowait-cached") {
    if (pread(fd, buf.data(), 4096, 4096) != 4096) ctx.broken("warming read");
  }
  if (mode == "nowait-uncached" || mode == "nowait-odirect") {
    // For O_DIRECT too: cached pages make some kernels refuse a NOWAIT
    // direct read (5.10 iomap: filemap_range_has_page() -> -EAGAIN).
    if (fdatasync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) ctx.broken("fadvise");
  }
  // Where the data must land: an O_APPEND write without RWF_NOAPPEND goes to
  // the end whatever its offset.
  const uint64_t lands = mode == "append" ? kFile : 4096;
  if (writing) fill_pattern(buf.data(), 4096, kWriteSeed, lands);
  Request r;
  r.tag = 1;
  r.fd = fd;
  r.buf = buf.data();
  r.len = 4096;
  r.offset = mode == "nowait-pipe" ? -1 : mode == "append" ? 0 : 4096;
  r.op = writing ? Op::write : Op::read;
  if (mode.rfind("nowait", 0) == 0) r.rw_flags = RWF_NOWAIT;
  else if (mode == "hipri") r.rw_flags = RWF_HIPRI;
  else if (mode == "noappend") r.rw_flags = RWF_NOAPPEND;
  else if (mode != "append") r.rw_flags = RWF_ATOMIC;
  ctx.observe(be.submit({&r}));
  std::vector<Completion> out;
  Outcome w = be.wait(1, 1, ms(mode == "nowait-pipe" ? 1000 : 5000), out);
  if (w.is_error) ctx.observe(w);
  for (const Completion& c : out) ctx.observe(c.result);
  const bool done = !out.empty() && !out[0].result.is_error && out[0].result.value > 0;
  if (done && mode != "nowait-pipe") {
    const size_t got = static_cast<size_t>(out[0].result.value);
    std::string bad = writing ? verify_file(fd, lands, got, kWriteSeed) : verify_buffer(buf.data(), got, kFileSeed, 4096);
    ctx.check(bad.empty(), "data: " + bad);
  }
  if (appending) {
    struct stat st{};
    const off_t want = static_cast<off_t>(kFile) + (done && mode == "append" ? 4096 : 0);
    ctx.check(fstat(fd, &st) == 0 && st.st_size == want,
              "file size " + std::to_string(st.st_size) + " after the write, expected " + std::to_string(want));
  }
  if (mode != "nowait-pipe") close(fd);
}

}  // namespace
}  // namespace aioh
