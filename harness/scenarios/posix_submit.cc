// POSIX AIO submission checks (area posix-submit): which phase reports a bad
// fd, a negative offset, a huge aio_nbytes, a NULL buffer, an out-of-range
// aio_reqprio, an invalid aio_fsync op, and what files other than regular
// ones give (a directory, an epoll fd, an O_PATH fd, a socket or pipe with
// an offset, a FIFO without writer, a pipe without reader, whose SIGPIPE
// goes to a glibc worker that blocks every signal); O_APPEND writes land at
// the end, in the order they were queued; aio_fsync runs fsync or fdatasync
// as its op says (rows with a seccomp fault on one of them show which) and
// only after what was queued on the fd before it. glibc validates only aio_reqprio
// (aio_read/aio_write) and the op and the fd (aio_fsync) at submission;
// everything else is found by the worker thread's pread/pwrite and reported
// through aio_error, which the man pages list as errors of the submitting
// call. Data is verified wherever bytes move, and a failed write must leave
// the file as it was.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "posix_util.h"

namespace aioh {
namespace {

using posix::closed_fd;

size_t nbytes_param(CaseContext& ctx) {
  if (!ctx.has("nbytes")) return static_cast<size_t>(ctx.num("len"));
  std::string s = ctx.str("nbytes");
  if (s == "size_max") return SIZE_MAX;
  if (s == "ssize_max_plus_1") return static_cast<size_t>(SSIZE_MAX) + 1;
  ctx.broken("unknown nbytes " + s);
}

// A non-regular file for the row: the fd the request names, with its other
// end (to feed or read back) in *peer, or -1.
int special_fd(CaseContext& ctx, const std::string& kind, bool is_read, std::vector<int>& own, int* peer) {
  *peer = -1;
  int p[2];
  if (kind == "dir") return own.emplace_back(open(ctx.scratch_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (kind == "epoll") return own.emplace_back(epoll_create1(EPOLL_CLOEXEC));
  // O_PATH: fcntl(F_GETFL) works on it, every I/O call answers EBADF.
  if (kind == "opath") return own.emplace_back(open((ctx.scratch_dir() + "/f").c_str(), O_PATH | O_CLOEXEC));
  if (kind == "fifo_nowriter") {
    std::string path = ctx.scratch_dir() + "/fifo";
    if (mkfifo(path.c_str(), 0600) != 0) ctx.broken("mkfifo failed");
    return own.emplace_back(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  }
  if (kind == "socket") {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0) ctx.broken("socketpair failed");
  } else if (pipe2(p, O_CLOEXEC) != 0) {
    ctx.broken("pipe2 failed");
  }
  own.push_back(p[0]);
  own.push_back(p[1]);
  if (kind == "pipe_noreader") {
    close(p[0]);
    own.erase(own.begin() + static_cast<long>(own.size()) - 2);
    return p[1];
  }
  *peer = is_read ? p[1] : p[0];
  return is_read ? p[0] : p[1];
}

// The bytes a successful transfer moved are the right ones: a read's in the
// buffer, a write's in the file (at lands_at) or at the pipe's other end.
void verify_rw(CaseContext& ctx, bool is_read, bool stream, int rw, int peer, const AlignedBuffer& buf,
               size_t got, int64_t at) {
  if (is_read) {
    std::string bad = verify_buffer(buf.data(), got, stream ? kWriteSeed : kFileSeed, stream ? 0 : static_cast<uint64_t>(at));
    ctx.check(bad.empty(), "aio_read data: " + bad);
  } else if (stream) {
    std::vector<uint8_t> back(got);
    ctx.check(read(peer, back.data(), got) == static_cast<ssize_t>(got) && verify_buffer(back.data(), got, kWriteSeed, 0).empty(),
              "bytes written to the pipe read back wrong");
  } else {
    std::string bad = verify_file(rw, static_cast<uint64_t>(at), got, kWriteSeed);
    ctx.check(bad.empty(), "aio_write data: " + bad);
  }
}

// One aio_read/aio_write; observes the submission and, when accepted, the
// completion.
AIOH_SCENARIO(posix_submit_rw, aioh::posix::aio_threads_param(),
              aioh::param::choice("op", "read", {"read", "write"}, "aio_read or aio_write"),
              aioh::param::choice("fd", "file", {"file", "bad", "rdonly", "append", "pipe", "socket", "dir", "epoll", "fifo_nowriter", "pipe_noreader", "opath"}, "the file"),
              aioh::param::integer("file_size", 16384, "scratch file size", 0),
              aioh::param::integer("offset", 0, "aio_offset"),
              aioh::param::integer("offset_from_max", -1, "aio_offset = the filesystem's maximum file size minus this (-1: unused)", -1),
              aioh::param::integer("len", 4096, "aio_nbytes", 0),
              aioh::param::choice("nbytes", "", {"", "size_max", "ssize_max_plus_1"}, "a huge aio_nbytes instead of len"),
              aioh::param::choice("buf", "ok", {"ok", "null"}, "aio_buf"),
              aioh::param::integer("reqprio", 0, "aio_reqprio", INT32_MIN, INT32_MAX),
              aioh::param::integer("pipe_fill", 0, "bytes put in the pipe/socket first", 0, 65536),
              aioh::param::boolean("status_after_reject", false, "observe aio_error after a refused submission"),
              aioh::param::integer("lands_at", -1, "where a write's bytes must land (-1: aio_offset)", -1),
              aioh::param::integer("size_after", -1, "the file's size afterwards (-1: unchecked)", -1),
              aioh::param::boolean("sigpipe_default", false, "SIGPIPE at its default action (terminate)")) {
  auto& be = posix::setup(ctx);
  const std::string op = ctx.str("op");
  const std::string fdkind = ctx.str("fd");
  const size_t file_size = static_cast<size_t>(ctx.num("file_size"));
  const int64_t off_param = ctx.num("offset");
  const size_t len = nbytes_param(ctx);
  const size_t buf_size = 65536;
  const bool is_read = op == "read";
  const bool stream = fdkind == "pipe" || fdkind == "socket";
  if (ctx.flag("sigpipe_default")) signal(SIGPIPE, SIG_DFL);

  int rw = posix::data_file(ctx, "f", file_size);
  // At the filesystem's maximum file size (s_maxbytes) minus offset_from_max.
  const bool at_max = ctx.num("offset_from_max") >= 0;
  int64_t off = off_param;
  if (at_max) {
    off = scn::offset_below_max(ctx, rw, ctx.num("offset_from_max"), len);
  }
  const int64_t at = ctx.num("lands_at") >= 0 ? ctx.num("lands_at") : off;
  std::vector<int> own;
  int fd = rw, peer = -1;
  if (fdkind == "bad") fd = closed_fd();
  else if (fdkind == "rdonly") fd = posix::data_file(ctx, "f", file_size, O_RDONLY);
  else if (fdkind == "append") fd = posix::data_file(ctx, "f", file_size, O_RDWR | O_APPEND);
  else if (fdkind != "file") fd = special_fd(ctx, fdkind, is_read, own, &peer);
  if (fd < 0) ctx.broken("cannot open the " + fdkind);
  if (stream && is_read) {
    std::vector<uint8_t> b(static_cast<size_t>(ctx.num("pipe_fill")));
    fill_pattern(b.data(), b.size(), kWriteSeed, 0);
    if (write(peer, b.data(), b.size()) != static_cast<ssize_t>(b.size())) ctx.broken("cannot fill the pipe");
  }
  AlignedBuffer buf(buf_size);
  if (is_read) std::memset(buf.data(), 0, buf_size);
  else fill_pattern(buf.data(), std::min(len, buf_size), kWriteSeed, stream ? 0 : at);
  void* data = ctx.str("buf") == "null" ? nullptr : buf.data();

  Request r = posix::req(is_read ? Op::read : Op::write, fd, data, len, off, 1);
  r.reqprio = static_cast<int>(ctx.num("reqprio"));
  Outcome s = be.submit({&r});
  ctx.observe(s);
  if (s.is_error) {
    // glibc stores the refusal in the aiocb too (aio_misc.c
    // __aio_enqueue_request); rows that assert it ask for it.
    if (ctx.flag("status_after_reject")) ctx.observe(be.error_of(be.control_block(1)));
    return;
  }
  posix::Reaper reaper(be);
  Outcome c = reaper.get(1);
  ctx.observe(c);
  const bool regular = fdkind == "file" || fdkind == "rdonly" || fdkind == "append" || fdkind == "bad";
  if (c.is_error) {
    if (!is_read && regular && len <= buf_size && off >= 0 && !at_max)
      ctx.check(verify_file(rw, off, len, kFileSeed).empty(),
                "a failed aio_write changed the file: " + verify_file(rw, off, len, kFileSeed));
  } else if (regular || stream) {
    verify_rw(ctx, is_read, stream, rw, peer, buf, static_cast<size_t>(c.value), at);
  }
  if (ctx.num("size_after") >= 0) {
    struct stat st {};
    fstat(rw, &st);
    ctx.check(st.st_size == ctx.num("size_after"), "file size " + std::to_string(st.st_size) + ", expected " +
                                                      std::to_string(ctx.num("size_after")));
  }
  for (int f : own) close(f);
}

// Two aio_writes queued back to back on an O_APPEND fd, both with
// aio_offset 0: POSIX aio_write(): "If O_APPEND is set for the file
// descriptor, write operations append to the file in the same order as the
// calls were made" (glibc runs one fd's requests in order on one worker).
AIOH_SCENARIO(posix_append_order, aioh::posix::aio_threads_param(),
              aioh::param::integer("len", 100, "bytes per write", 1, 4096),
              aioh::param::integer("file_size", 1000, "the file before", 0, 65536)) {
  auto& be = posix::setup(ctx);
  const size_t n = static_cast<size_t>(ctx.num("len"));
  const int64_t size = ctx.num("file_size");
  int fd = posix::data_file(ctx, "f", static_cast<size_t>(size), O_RDWR | O_APPEND);
  AlignedBuffer a(n), b(n);
  fill_pattern(a.data(), n, kWriteSeed, static_cast<uint64_t>(size));
  fill_pattern(b.data(), n, kWriteSeed, static_cast<uint64_t>(size) + n);
  Request ra = posix::req(Op::write, fd, a.data(), n, 0, 1);
  Request rb = posix::req(Op::write, fd, b.data(), n, 0, 2);
  ctx.observe(be.submit({&ra}));
  ctx.observe(be.submit({&rb}));
  posix::Reaper reaper(be);
  ctx.observe(reaper.get(1));
  ctx.observe(reaper.get(2));
  std::string bad = verify_file(fd, static_cast<uint64_t>(size), 2 * n, kWriteSeed);
  ctx.check(bad.empty(), "the appended bytes are not the two writes in order: " + bad);
  struct stat st {};
  fstat(fd, &st);
  ctx.check(st.st_size == size + static_cast<int64_t>(2 * n), "file size " + std::to_string(st.st_size));
}

// aio_reqprio orders what waits behind a running request on one fd: glibc
// aio_misc.c __aio_enqueue_request() files a request for a busy fd into the
// fd's next_prio chain by __abs_prio (the caller's sched_priority minus
// aio_reqprio), after every one of equal or higher priority, and the worker
// takes them in that order. Read A holds the worker in read(2) on a pipe; B
// (first_prio) then C (second_prio) queue behind it; then 12 bytes arrive at
// once. Observes the three submissions, the three completions, then where in
// the pipe's stream B's and C's 4 bytes came from (4: right after A).
int64_t stream_position(const uint8_t* b) {
  for (uint64_t at : {0u, 4u, 8u})
    if (verify_buffer(b, 4, kWriteSeed, at).empty()) return static_cast<int64_t>(at);
  return -1;
}

AIOH_SCENARIO(posix_reqprio_order, aioh::posix::aio_threads_param(),
              aioh::param::integer("first_prio", 0, "aio_reqprio of B, queued first", 0, 20),
              aioh::param::integer("second_prio", 0, "aio_reqprio of C, queued second", 0, 20)) {
  auto& be = posix::setup(ctx);
  posix::Pipe p(ctx);
  uint8_t a[4] = {}, b[4] = {}, c[4] = {};
  Request ra = posix::req(Op::read, p.r, a, 4, 0, 1);
  ctx.observe(be.submit({&ra}));
  if (!posix::worker_in_read(p.r)) ctx.broken("no worker was seen in read(2) on the pipe");
  Request rb = posix::req(Op::read, p.r, b, 4, 0, 2);
  rb.reqprio = static_cast<int>(ctx.num("first_prio"));
  Request rc = posix::req(Op::read, p.r, c, 4, 0, 3);
  rc.reqprio = static_cast<int>(ctx.num("second_prio"));
  ctx.observe(be.submit({&rb}));
  ctx.observe(be.submit({&rc}));
  if (!p.feed(12)) ctx.broken("cannot feed the pipe");
  posix::Reaper reaper(be);
  for (uint64_t tag : {1u, 2u, 3u}) ctx.observe(reaper.get(tag));
  ctx.check(stream_position(a) == 0, "A, running when the others were queued, did not get the first 4 bytes");
  ctx.observe(Outcome::ok(stream_position(b), Channel::ret, Phase::completion));
  ctx.observe(Outcome::ok(stream_position(c), Channel::ret, Phase::completion));
}

// aio_fsync on a pipe behind a read of that pipe that is still blocked:
// POSIX aio_fsync() applies to "all I/O operations associated with the file
// indicated by aio_fildes and queued at the time of the call", and glibc
// queues it behind the read on the fd's worker, so it stays EINPROGRESS
// until the read is fed; then it runs and fsync(2) of a pipe fails (EINVAL).
AIOH_SCENARIO(posix_fsync_queued, aioh::posix::aio_threads_param(),
              aioh::param::choice("sync_op", "O_SYNC", {"O_SYNC", "O_DSYNC"}, "aio_fsync's op")) {
  auto& be = posix::setup(ctx);
  posix::Pipe p(ctx);
  std::vector<uint8_t> buf(16);
  Request rd = posix::req(Op::read, p.r, buf.data(), 16, 0, 1);
  if (be.submit({&rd}).is_error) ctx.broken("aio_read refused");
  if (!posix::worker_in_read(p.r)) ctx.broken("no worker was seen in read(2) on the pipe");
  Request fs = posix::req(Op::fsync, p.r, nullptr, 0, 0, 2);
  ctx.observe(be.submit_fsync(&fs, ctx.str("sync_op") == "O_DSYNC" ? O_DSYNC : O_SYNC));
  ctx.observe(be.error_of(be.control_block(2)));
  if (!p.feed(16)) ctx.broken("cannot feed the pipe");
  posix::Reaper reaper(be);
  ctx.observe(reaper.get(1));
  ctx.observe(reaper.get(2));
}

int fsync_op(CaseContext& ctx) {
  std::string s = ctx.str("sync_op");
  if (s == "O_SYNC") return O_SYNC;
  if (s == "O_DSYNC") return O_DSYNC;
  if (s == "O_RDWR") return O_RDWR;
  if (s == "zero") return 0;
  ctx.broken("unknown sync_op " + s);
}

// aio_fsync(op, aiocb) with the row's op and fd; aio_reqprio may be set to
// check that glibc ignores (and clears) it for sync requests.
AIOH_SCENARIO(posix_submit_fsync, aioh::posix::aio_threads_param(),
              aioh::param::choice("sync_op", "O_SYNC", {"O_SYNC", "O_DSYNC", "O_RDWR", "zero"}, "aio_fsync's op"),
              aioh::param::choice("fd", "file", {"file", "bad", "rdonly", "pipe", "opath"}, "the file (pipe: a pipe's write end; opath: O_PATH)"),
              aioh::param::integer("reqprio", 0, "aio_reqprio", INT32_MIN, INT32_MAX),
              aioh::param::integer("reqprio_after", 0, "aio_reqprio glibc must leave")) {
  auto& be = posix::setup(ctx);
  const std::string fdkind = ctx.str("fd");
  std::vector<int> own;
  int peer = -1;
  int fd = posix::data_file(ctx, "f", 4096, fdkind == "rdonly" ? O_RDONLY : O_RDWR);
  if (fdkind == "bad") fd = closed_fd();
  else if (fdkind == "pipe" || fdkind == "opath") fd = special_fd(ctx, fdkind, false, own, &peer);
  Request r = posix::req(Op::fsync, fd, nullptr, 0, 0, 1);
  r.reqprio = static_cast<int>(ctx.num("reqprio"));
  Outcome s = be.submit_fsync(&r, fsync_op(ctx));
  ctx.observe(s);
  if (s.is_error) return;
  if (ctx.has("reqprio_after"))
    ctx.check(be.control_block(1)->aio_reqprio == ctx.num("reqprio_after"),
              "aio_reqprio after aio_fsync is " +
                  std::to_string(be.control_block(1)->aio_reqprio));
  posix::Reaper reaper(be);
  ctx.observe(reaper.get(1));
  for (int f : own) close(f);
}

}  // namespace
}  // namespace aioh
