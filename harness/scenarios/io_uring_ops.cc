// File and socket opcodes beyond read/write, each checked for its effect and
// not just its CQE: IORING_OP_CLOSE (the fd is gone; an io_uring fd is
// refused; a direct descriptor's slot is emptied, and its refusals), STATX
// (the size comes back; IOSQE_FIXED_FILE refused), a direct OPENAT into an
// occupied slot (the slot's file replaced), PIPE (6.16: a working pipe, its
// flags, as direct descriptors, its refusals), FALLOCATE (the file grows),
// UNLINKAT / MKDIRAT / RENAMEAT (the directory changes; their errno when it
// cannot), FTRUNCATE (6.9), FIXED_FD_INSTALL (6.8: a registered file back
// in the process's fd table, O_CLOEXEC unless asked; its refusals), SPLICE and TEE between pipes and a file (bytes
// moved and verified), SHUTDOWN of a socket (the peer reads EOF), FADVISE
// and MADVISE (0). Every result is cqe->res; effects are checked with plain
// syscalls afterwards.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>

#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

#ifndef IORING_OP_FTRUNCATE
#define IORING_OP_FTRUNCATE 55
#endif
#ifndef IORING_OP_FIXED_FD_INSTALL
#define IORING_OP_FIXED_FD_INSTALL 54
#endif
#ifndef IORING_FIXED_FD_NO_CLOEXEC
#define IORING_FIXED_FD_NO_CLOEXEC (1U << 0)
#endif

// IORING_OP_FIXED_FD_INSTALL of `fd` (the slot, or a plain fd without
// IOSQE_FIXED_FILE) with install flags (sqe->install_fd_flags, which shares
// rw_flags' place) and a personality (0: none).
void prep_fixed_fd_install(io_uring_sqe* s, int fd, bool fixed, unsigned flags, unsigned short personality) {
  io_uring_prep_rw(IORING_OP_FIXED_FD_INSTALL, s, fd, nullptr, 0, 0);
  if (fixed) s->flags |= IOSQE_FIXED_FILE;
  s->rw_flags = static_cast<__kernel_rwf_t>(flags);
  s->personality = personality;
}

// op: close | close-ring | statx | fallocate | unlinkat | unlinkat-missing |
// mkdirat-exists | renameat | ftruncate | splice | tee | shutdown | fadvise |
// madvise | fixed-fd-install (slot 0 of a registered table holding the
// scratch file; observes 1 for a new fd, whether it has FD_CLOEXEC, whether
// it is the same file) | fixed-fd-install-no-cloexec (the same with
// IORING_FIXED_FD_NO_CLOEXEC) | fixed-fd-install-bad-flag (flag bit 1) |
// fixed-fd-install-not-fixed (a plain fd, no IOSQE_FIXED_FILE) |
// fixed-fd-install-personality (a registered personality on the SQE) |
// close-direct (IORING_OP_CLOSE of direct descriptor 0, the registered
// table {scratch file, -1}; then a fixed read of slot 0 and
// whether the process's own fd is still open, 1/0) | close-direct-empty
// (slot 1 of the table {file, -1}) | close-fixed-flag (a CLOSE with
// IOSQE_FIXED_FILE) | close-fd-and-slot (a CLOSE of a dup'ed fd with
// file_index set too; then whether that fd is still open, 1/0) |
// statx-fixed-flag (a STATX by path with IOSQE_FIXED_FILE) |
// openat-direct-occupied (slot 0 holds the 8 KiB scratch file; a direct
// open of a 4 KiB one into slot 0, then a fixed read of 8 KiB from slot 0:
// 4096 and its bytes verified when the slot now holds the new file) |
// pipe (IORING_OP_PIPE, flags 0) | pipe-cloexec-nonblock (O_CLOEXEC |
// O_NONBLOCK): then 8 bytes written to fds[1] and read back from fds[0]
// (8 when they match), whether both fds are FD_CLOEXEC and both ends
// O_NONBLOCK (1 both, 0 neither, -1 mixed) | pipe-bad-flag (O_TRUNC) |
// pipe-fd-field (sqe->fd 3) | pipe-direct-alloc (a sparse table of 4,
// file_index IORING_FILE_INDEX_ALLOC) | pipe-direct-slot (file_index naming
// slot 2) | pipe-direct-cloexec (ALLOC with O_CLOEXEC) | pipe-direct-no-table
// (ALLOC, no table registered): a direct pipe observes fds[0], fds[1] as
// written back, then a fixed WRITE of 8 bytes to the write side's slot and a
// fixed READ from the read side's (bytes verified).
// Observes the CQE's res, then the effect as a value where there is one (the
// fd still open 1/0, the size, the name's presence 1/0, bytes read back, the
// peer's read).
AIOH_URING_CHOICE_SCENARIO(uring_ops, 8, op, "close", "the opcode and its case",
                           "close", "close-ring", "statx", "fallocate", "unlinkat", "unlinkat-missing",
                           "mkdirat-exists", "renameat", "ftruncate", "splice", "tee", "shutdown", "fadvise",
                           "madvise", "fixed-fd-install", "fixed-fd-install-no-cloexec", "fixed-fd-install-bad-flag",
                           "fixed-fd-install-not-fixed", "fixed-fd-install-personality", "close-direct",
                           "close-direct-empty", "close-fixed-flag", "close-fd-and-slot", "statx-fixed-flag",
                           "openat-direct-occupied", "pipe", "pipe-cloexec-nonblock", "pipe-bad-flag",
                           "pipe-fd-field", "pipe-direct-alloc", "pipe-direct-slot", "pipe-direct-cloexec",
                           "pipe-direct-no-table") {
  const std::string dir = ctx.scratch_dir();
  const std::string path = dir + "/ops";
  int fd = ctx.scratch_file("ops", 8192, O_RDWR | O_CLOEXEC);
  auto exists = [](const std::string& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 ? 1 : 0;
  };
  auto size_of = [](int f) {
    struct stat st {};
    return fstat(f, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
  };
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto run = [&](auto prep) {
    submit_one(ctx, be, 1, prep);
    RawCqe c = reap(ctx, be, 1)[0];
    ctx.observe(IoUringBackend::res_outcome(c.res));
    return c.res;
  };
  Pipe a, b;
  if (!a.ok() || !b.ok()) ctx.broken("pipe");
  if (op.rfind("fixed-fd-install", 0) == 0) {
    if (int r = io_uring_register_files(&be.ring(), &fd, 1); r < 0) ctx.broken("register files: " + errno_name(-r));
    unsigned short personality = 0;
    if (op == "fixed-fd-install-personality") {
      int id = io_uring_register_personality(&be.ring());
      if (id < 0) ctx.broken("register personality: " + errno_name(-id));
      personality = static_cast<unsigned short>(id);
    }
    const bool fixed = op != "fixed-fd-install-not-fixed";
    const unsigned flags = op == "fixed-fd-install-no-cloexec"  ? IORING_FIXED_FD_NO_CLOEXEC
                           : op == "fixed-fd-install-bad-flag" ? 2u
                                                                : 0u;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { prep_fixed_fd_install(s, fixed ? 0 : fd, fixed, flags, personality); });
    RawCqe c = reap(ctx, be, 1)[0];
    if (c.res < 0) {
      ctx.observe(IoUringBackend::res_outcome(c.res));
    } else {
      // The fd's number is whatever is free: observed as "an fd".
      ctx.observe(Outcome::ok(1, Channel::cqe_res, Phase::completion));
      const int fdflags = fcntl(c.res, F_GETFD);
      value(fdflags < 0 ? -1 : (fdflags & FD_CLOEXEC) ? 1 : 0);
      struct stat x {}, y {};
      value(fstat(c.res, &x) == 0 && fstat(fd, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev ? 1 : 0);
      close(c.res);
    }
  } else if (op == "close-direct" || op == "close-direct-empty" || op == "openat-direct-occupied") {
    int set[] = {fd, -1};
    if (int r = io_uring_register_files(&be.ring(), set, 2); r < 0) ctx.broken("register files: " + errno_name(-r));
    if (op == "openat-direct-occupied") {
      int small = ctx.scratch_file("ops-small", 4096, O_RDONLY | O_CLOEXEC);
      if (small < 0) ctx.broken("scratch file");
      close(small);
      const std::string small_path = dir + "/ops-small";
      run([&](io_uring_sqe* s) { io_uring_prep_openat_direct(s, AT_FDCWD, small_path.c_str(), O_RDONLY, 0, 0); });
    } else {
      run([&](io_uring_sqe* s) { io_uring_prep_close_direct(s, op == "close-direct" ? 0 : 1); });
    }
    if (op != "close-direct-empty") {
      AlignedBuffer buf(8192);
      const int res = run([&](io_uring_sqe* s) {
        io_uring_prep_read(s, 0, buf.data(), 8192, 0);
        s->flags |= IOSQE_FIXED_FILE;
      });
      if (res > 0)
        ctx.check(verify_buffer(buf.data(), static_cast<size_t>(res), kFileSeed, 0).empty(), "fixed read data mismatch");
    }
    // Closing the slot drops the table's reference only.
    if (op == "close-direct") value(fcntl(fd, F_GETFD) == -1 ? 0 : 1);
  } else if (op == "close-fixed-flag") {
    run([&](io_uring_sqe* s) {
      io_uring_prep_close(s, 0);
      s->flags |= IOSQE_FIXED_FILE;
    });
  } else if (op == "close-fd-and-slot") {
    int victim = dup(fd);
    if (victim < 0) ctx.broken("dup");
    run([&](io_uring_sqe* s) {
      io_uring_prep_close(s, victim);
      s->file_index = 1;
    });
    value(fcntl(victim, F_GETFD) == -1 ? 0 : 1);
    close(victim);
  } else if (op == "statx-fixed-flag") {
    struct statx stx {};
    run([&](io_uring_sqe* s) {
      io_uring_prep_statx(s, AT_FDCWD, path.c_str(), 0, STATX_SIZE, &stx);
      s->flags |= IOSQE_FIXED_FILE;
    });
  } else if (op.rfind("pipe", 0) == 0) {
    // Laid out as liburing's io_uring_prep_pipe() / _direct() (2.10, newer
    // than the build's headers): fds in addr, the pipe2(2) flags in
    // pipe_flags (rw_flags' place), a direct slot as file_index = slot + 1.
    const bool direct = op.rfind("pipe-direct", 0) == 0;
    if (direct && op != "pipe-direct-no-table")
      if (int r = io_uring_register_files_sparse(&be.ring(), 4); r < 0) ctx.broken("sparse files: " + errno_name(-r));
    unsigned flags = 0;
    if (op == "pipe-cloexec-nonblock") flags = O_CLOEXEC | O_NONBLOCK;
    if (op == "pipe-bad-flag") flags = O_TRUNC;
    if (op == "pipe-direct-cloexec") flags = O_CLOEXEC;
    int fds[2] = {-1, -1};
    const int res = run([&](io_uring_sqe* s) {
      io_uring_prep_rw(kOpPipe, s, 0, fds, 0, 0);
      s->rw_flags = static_cast<__kernel_rwf_t>(flags);
      if (op == "pipe-fd-field") s->fd = 3;
      if (op == "pipe-direct-slot") s->file_index = 2 + 1;
      else if (direct) s->file_index = IORING_FILE_INDEX_ALLOC;
    });
    static const char kMsg[8] = {'p', 'i', 'p', 'e', '-', 'o', 'p', '!'};
    if (res == 0 && !direct) {
      char got[8] = {};
      bool through = write(fds[1], kMsg, 8) == 8 && read(fds[0], got, 8) == 8 && std::memcmp(got, kMsg, 8) == 0;
      value(through ? 8 : -1);
      auto both = [&](auto has) { return has(fds[0]) && has(fds[1]) ? 1 : !has(fds[0]) && !has(fds[1]) ? 0 : -1; };
      value(both([](int f) { return (fcntl(f, F_GETFD) & FD_CLOEXEC) != 0; }));
      value(both([](int f) { return (fcntl(f, F_GETFL) & O_NONBLOCK) != 0; }));
      close(fds[0]);
      close(fds[1]);
    } else if (res == 0) {
      value(fds[0]);
      value(fds[1]);
      // The ends are used by the slots asked for, not the ones written back
      // (kernels before f4d0668b38d8 write {0, 0} for given slots).
      const int rd = op == "pipe-direct-slot" ? 2 : fds[0], wr = op == "pipe-direct-slot" ? 3 : fds[1];
      char got[8] = {};
      run([&](io_uring_sqe* s) {
        io_uring_prep_write(s, wr, kMsg, 8, 0);
        s->flags |= IOSQE_FIXED_FILE;
      });
      const int n = run([&](io_uring_sqe* s) {
        io_uring_prep_read(s, rd, got, 8, 0);
        s->flags |= IOSQE_FIXED_FILE;
      });
      ctx.check(n != 8 || std::memcmp(got, kMsg, 8) == 0, "fixed pipe read data mismatch");
    }
  } else if (op == "close") {
    int victim = dup(fd);
    run([&](io_uring_sqe* s) { io_uring_prep_close(s, victim); });
    value(fcntl(victim, F_GETFD) == -1 && errno == EBADF ? 0 : 1);
  } else if (op == "close-ring") {
    io_uring other{};
    if (io_uring_queue_init(4, &other, 0) < 0) ctx.broken("second ring");
    run([&](io_uring_sqe* s) { io_uring_prep_close(s, other.ring_fd); });
    io_uring_queue_exit(&other);
  } else if (op == "statx") {
    struct statx stx {};
    run([&](io_uring_sqe* s) { io_uring_prep_statx(s, AT_FDCWD, path.c_str(), 0, STATX_SIZE, &stx); });
    value((stx.stx_mask & STATX_SIZE) ? static_cast<int64_t>(stx.stx_size) : -1);
  } else if (op == "fallocate") {
    run([&](io_uring_sqe* s) { io_uring_prep_fallocate(s, fd, 0, 0, 16384); });
    value(size_of(fd));
  } else if (op == "unlinkat" || op == "unlinkat-missing") {
    const std::string victim = op == "unlinkat" ? path : dir + "/never-made";
    run([&](io_uring_sqe* s) { io_uring_prep_unlinkat(s, AT_FDCWD, victim.c_str(), 0); });
    value(exists(victim));
  } else if (op == "mkdirat-exists") {
    run([&](io_uring_sqe* s) { io_uring_prep_mkdirat(s, AT_FDCWD, dir.c_str(), 0700); });
  } else if (op == "renameat") {
    const std::string to = dir + "/ops-renamed";
    run([&](io_uring_sqe* s) { io_uring_prep_renameat(s, AT_FDCWD, path.c_str(), AT_FDCWD, to.c_str(), 0); });
    value(exists(path) * 2 + exists(to));  // 1: only the new name
  } else if (op == "ftruncate") {
    run([&](io_uring_sqe* s) {
      io_uring_prep_rw(IORING_OP_FTRUNCATE, s, fd, nullptr, 0, 100);
    });
    value(size_of(fd));
  } else if (op == "splice") {
    // 16 bytes from pipe A into the file at offset 0.
    std::vector<uint8_t> data(16);
    fill_pattern(data.data(), 16, kWriteSeed, 0);
    if (write(a.w(), data.data(), 16) != 16) ctx.broken("pipe write");
    run([&](io_uring_sqe* s) { io_uring_prep_splice(s, a.r(), -1, fd, 0, 16, 0); });
    value(verify_file(fd, 0, 16, kWriteSeed).empty() ? 16 : -1);
  } else if (op == "tee") {
    // 8 bytes duplicated from pipe A into pipe B; A keeps them.
    if (write(a.w(), "teeteeok", 8) != 8) ctx.broken("pipe write");
    run([&](io_uring_sqe* s) { io_uring_prep_tee(s, a.r(), b.w(), 8, 0); });
    char x[8] = {}, y[8] = {};
    bool same = read(a.r(), x, 8) == 8 && read(b.r(), y, 8) == 8 && std::memcmp(x, y, 8) == 0 &&
                std::memcmp(x, "teeteeok", 8) == 0;
    value(same ? 1 : 0);
  } else if (op == "shutdown") {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) ctx.broken("socketpair");
    run([&](io_uring_sqe* s) { io_uring_prep_shutdown(s, sv[0], SHUT_WR); });
    char c;
    value(read(sv[1], &c, 1));  // EOF: 0
    close(sv[0]);
    close(sv[1]);
  } else if (op == "fadvise") {
    run([&](io_uring_sqe* s) { io_uring_prep_fadvise(s, fd, 0, 8192, POSIX_FADV_DONTNEED); });
  } else {  // madvise
    void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) ctx.broken("mmap");
    run([&](io_uring_sqe* s) { io_uring_prep_madvise(s, m, 8192, MADV_DONTNEED); });
    munmap(m, 8192);
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
