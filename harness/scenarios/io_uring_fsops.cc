// io_uring's path and metadata opcodes not covered by uring_ops: SYMLINKAT,
// LINKAT, OPENAT2 (its struct open_how checks), SYNC_FILE_RANGE, the xattr
// quartet (FSETXATTR/FGETXATTR/SETXATTR/GETXATTR, a value set and read back
// byte for byte) and EPOLL_CTL, plus IORING_OP_FILES_UPDATE of a registered
// file table. Each success is checked for its effect with plain syscalls
// (readlink, the link count, the file read through the new fd, the slot
// usable by a fixed read); each refusal is the errno the syscall's man page
// gives, in cqe->res.
#include <sys/mman.h>
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstring>

#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr const char* kXattr = "trusted.aioh";  // trusted.*: every filesystem a scratch dir sits on (tmpfs too)

// op:
//  symlinkat            res, readlink(2) of the new name gives the target (1).
//  symlinkat-exists     the link path already exists: res.
//  linkat               res, the file's st_nlink (2).
//  linkat-dir           a hard link to a directory: res.
//  openat2              how = {O_RDONLY}: res an fd (1), 16 bytes read through it verified (16).
//  openat2-unknown-flag how.flags bit 1 << 40: res.
//  openat2-bad-mode     how.mode set without O_CREAT: res.
//  openat2-no-symlinks  RESOLVE_NO_SYMLINKS through a symlink: res.
//  openat2-small-size   sizeof(open_how) - 1: res.
//  openat-missing       OPENAT O_RDONLY of a name absent from the scratch dir: res; OPENAT
//                       O_CREAT of a name under a directory that does not exist: res.
//  openat-excl          OPENAT O_CREAT|O_EXCL of a new name: res an fd (1); O_CREAT|O_EXCL|
//                       O_TRUNC of the existing 8 KiB scratch file: res; its size after.
//  sync-file-range      SYNC_FILE_RANGE_WRITE of 8 KiB: res.
//  fsetxattr-fgetxattr  FSETXATTR of 8 bytes then FGETXATTR: both res, the bytes match (1).
//  setxattr-getxattr    the same by path (SETXATTR/GETXATTR).
//  fgetxattr-missing    FGETXATTR of a name never set: res.
//  fgetxattr-small      FGETXATTR into a 4-byte buffer of an 8-byte value: res.
//  fsetxattr-create-exists XATTR_CREATE of a name that exists: res.
//  epoll-ctl-add        EPOLL_CTL_ADD of an eventfd, then epoll_wait(2) sees it (1).
//  epoll-ctl-add-twice  a second ADD of the same fd: res.
//  epoll-ctl-del-absent EPOLL_CTL_DEL of an fd never added: res.
//  files-update         FILES_UPDATE of slot 1 (empty: registered as -1) with the scratch file: res
//                       (slots updated), then a fixed read from slot 1 (16, verified).
//  files-update-bad-fd  FILES_UPDATE with a closed fd: res.
//  files-update-unreadable  FILES_UPDATE whose fd array is a PROT_NONE page: res.
//  files-update-offset-overflow  FILES_UPDATE of 2 slots at offset 0xfffffffe: res.
AIOH_URING_CHOICE_SCENARIO(uring_fsops, 8, op, "symlinkat", "the opcode and its case",
                           "symlinkat", "symlinkat-exists", "linkat", "linkat-dir", "openat2", "openat2-unknown-flag",
                           "openat2-bad-mode", "openat2-no-symlinks", "openat2-small-size", "sync-file-range",
                           "openat-missing", "openat-excl",
                           "fsetxattr-fgetxattr", "setxattr-getxattr", "fgetxattr-missing", "fgetxattr-small",
                           "fsetxattr-create-exists", "epoll-ctl-add", "epoll-ctl-add-twice", "epoll-ctl-del-absent",
                           "files-update", "files-update-bad-fd", "files-update-unreadable",
                           "files-update-offset-overflow") {
  const std::string dir = ctx.scratch_dir();
  const std::string path = dir + "/fsops";
  int fd = ctx.scratch_file("fsops", 8192, O_RDWR | O_CLOEXEC);
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto run = [&](auto prep) {
    submit_one(ctx, be, 1, prep);
    const int r = reap(ctx, be, 1)[0].res;
    ctx.observe(IoUringBackend::res_outcome(r));
    return r;
  };
  auto read16 = [&](int f) {
    uint8_t b[16] = {};
    return pread(f, b, 16, 0) == 16 && verify_buffer(b, 16, kFileSeed, 0).empty() ? 16 : -1;
  };

  if (op == "symlinkat" || op == "symlinkat-exists") {
    const std::string link = op == "symlinkat" ? dir + "/sym" : path;
    const int r = run([&](io_uring_sqe* s) { io_uring_prep_symlinkat(s, "fsops", AT_FDCWD, link.c_str()); });
    if (r == 0) {
      char buf[64] = {};
      ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
      value(n == 5 && std::strcmp(buf, "fsops") == 0 ? 1 : 0);
    }
  } else if (op == "linkat" || op == "linkat-dir") {
    const std::string from = op == "linkat" ? path : dir;
    const std::string to = dir + "/hard";
    const int r = run([&](io_uring_sqe* s) {
      io_uring_prep_linkat(s, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), 0);
    });
    if (r == 0) {
      struct stat st {};
      value(stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_nlink) : -1);
    }
  } else if (op.rfind("openat2", 0) == 0) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    size_t size = sizeof how;
    std::string target = path;
    if (op == "openat2-unknown-flag") how.flags |= uint64_t{1} << 40;
    if (op == "openat2-bad-mode") how.mode = 0600;
    if (op == "openat2-small-size") size = sizeof how - 1;
    if (op == "openat2-no-symlinks") {
      target = dir + "/via-link";
      if (symlink("fsops", target.c_str()) != 0) ctx.broken("symlink");
      how.resolve = RESOLVE_NO_SYMLINKS;
    }
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_openat2(s, AT_FDCWD, target.c_str(), &how);
      s->len = static_cast<unsigned>(size);
    });
    const int r = reap(ctx, be, 1)[0].res;
    if (r < 0) {
      ctx.observe(IoUringBackend::res_outcome(r));
    } else {  // an fd, whatever its number
      value(1);
      value(read16(r));
      close(r);
    }
  } else if (op == "openat-missing" || op == "openat-excl") {
    auto open_at = [&](const std::string& name, int flags) {
      submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_openat(s, AT_FDCWD, name.c_str(), flags, 0600); });
      observe_fd_res(ctx, reap(ctx, be, 1)[0].res);
    };
    if (op == "openat-missing") {
      open_at(dir + "/absent", O_RDONLY | O_CLOEXEC);
      open_at(dir + "/no-such-dir/new", O_CREAT | O_WRONLY | O_CLOEXEC);
    } else {
      open_at(dir + "/excl", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC);
      // The refused open must not have truncated the existing file.
      open_at(path, O_CREAT | O_EXCL | O_WRONLY | O_TRUNC | O_CLOEXEC);
      struct stat st {};
      value(stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1);
    }
  } else if (op == "sync-file-range") {
    run([&](io_uring_sqe* s) { io_uring_prep_sync_file_range(s, fd, 8192, 0, SYNC_FILE_RANGE_WRITE); });
  } else if (op.find("xattr") != std::string::npos) {
    const char val[8] = {'a', 'i', 'o', 'h', '-', 'x', 'a', 't'};
    if (op == "fgetxattr-small" || op == "fsetxattr-create-exists")
      if (fsetxattr(fd, kXattr, val, sizeof val, 0) != 0) ctx.broken("fsetxattr: " + errno_name(errno));
    char got[8] = {};
    if (op == "fsetxattr-fgetxattr") {
      run([&](io_uring_sqe* s) { io_uring_prep_fsetxattr(s, fd, kXattr, val, 0, sizeof val); });
      run([&](io_uring_sqe* s) { io_uring_prep_fgetxattr(s, fd, kXattr, got, sizeof got); });
      value(std::memcmp(got, val, sizeof val) == 0 ? 1 : 0);
    } else if (op == "setxattr-getxattr") {
      run([&](io_uring_sqe* s) { io_uring_prep_setxattr(s, kXattr, val, path.c_str(), 0, sizeof val); });
      run([&](io_uring_sqe* s) { io_uring_prep_getxattr(s, kXattr, got, path.c_str(), sizeof got); });
      value(std::memcmp(got, val, sizeof val) == 0 ? 1 : 0);
    } else if (op == "fgetxattr-missing") {
      run([&](io_uring_sqe* s) { io_uring_prep_fgetxattr(s, fd, kXattr, got, sizeof got); });
    } else if (op == "fgetxattr-small") {
      run([&](io_uring_sqe* s) { io_uring_prep_fgetxattr(s, fd, kXattr, got, 4); });
    } else {  // fsetxattr-create-exists
      run([&](io_uring_sqe* s) { io_uring_prep_fsetxattr(s, fd, kXattr, val, XATTR_CREATE, sizeof val); });
    }
  } else if (op.rfind("epoll-ctl", 0) == 0) {
    int ep = epoll_create1(EPOLL_CLOEXEC), efd = eventfd(1, EFD_CLOEXEC);
    if (ep < 0 || efd < 0) ctx.broken("epoll_create1/eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 77;
    if (op == "epoll-ctl-add-twice" && epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) ctx.broken("epoll_ctl");
    const int ctl = op == "epoll-ctl-del-absent" ? EPOLL_CTL_DEL : EPOLL_CTL_ADD;
    const int r = run([&](io_uring_sqe* s) { io_uring_prep_epoll_ctl(s, ep, efd, ctl, &ev); });
    if (op == "epoll-ctl-add" && r == 0) {
      epoll_event out{};
      value(epoll_wait(ep, &out, 1, 0) == 1 && out.data.u64 == 77 ? 1 : 0);
    }
    close(efd);
    close(ep);
  } else {  // files-update*
    // Four empty slots given as -1 (accepted since 5.5), not IORING_RSRC_REGISTER_SPARSE
    // (5.19): the rows are about FILES_UPDATE (5.6), not the sparse flag.
    const int empty[4] = {-1, -1, -1, -1};
    if (int r = io_uring_register_files(&be.ring(), empty, 4); r < 0) ctx.broken("register empty file slots: " + errno_name(-r));
    if (op == "files-update-unreadable") {
      void* none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (none == MAP_FAILED) ctx.broken("mmap PROT_NONE");
      run([&](io_uring_sqe* s) { io_uring_prep_files_update(s, static_cast<int*>(none), 1, 1); });
      munmap(none, 4096);
      close(fd);
      return;
    }
    if (op == "files-update-offset-overflow") {
      int two[2] = {fd, fd};
      run([&](io_uring_sqe* s) {
        io_uring_prep_files_update(s, two, 2, 0);
        s->off = 0xfffffffeu;  // offset + nr wraps the 32-bit slot index
      });
      close(fd);
      return;
    }
    int fds[1] = {op == "files-update" ? fd : closed_fd()};
    const int r = run([&](io_uring_sqe* s) { io_uring_prep_files_update(s, fds, 1, 1); });
    if (r == 1) {
      uint8_t b[16] = {};
      submit_one(ctx, be, 2, [&](io_uring_sqe* s) {
        io_uring_prep_read(s, 1, b, 16, 0);
        s->flags |= IOSQE_FIXED_FILE;
      });
      const int n = reap(ctx, be, 1)[0].res;
      value(n == 16 && verify_buffer(b, 16, kFileSeed, 0).empty() ? 16 : n);
    }
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
