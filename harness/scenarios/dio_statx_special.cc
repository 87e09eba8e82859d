// statx(2)'s direct-I/O fields on inodes that are not regular files: a
// directory, a socket, a FIFO and a character device (/dev/null). statx(2)
// says STATX_DIOALIGN and STATX_DIO_READ_ALIGN are reported only where the
// file supports direct I/O, so each must come back with the bits clear and
// the fields zero. Asked twice: with statx(2), and with io_uring's
// IORING_OP_STATX on the same fd (io_uring/statx.c runs the same
// do_statx()), and both answers are observed. Block devices, which do report
// (block/bdev.c bdev_statx()), are the `dio.statx-dioalign` rows on the raw
// loop targets; a pipe is `dio.statx-pipe-packet-mode`.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "errno_names.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr unsigned kDioalign = 0x00002000U, kDioReadAlign = 0x00020000U;
constexpr size_t kMask = 0, kMem = 152, kOff = 156, kReadOff = 180;

uint32_t u32(const unsigned char* b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

// inode: dir | socket | fifo | chardev. Observes, for statx(2) then for
// IORING_OP_STATX: the call's result, STATX_DIOALIGN in stx_mask (0/1),
// STATX_DIO_READ_ALIGN in stx_mask (0/1), and whether stx_dio_mem_align,
// stx_dio_offset_align and stx_dio_read_offset_align are all 0 (1).
AIOH_URING_CHOICE_SCENARIO(statx_special_inode, 4, inode, "dir", "the special inode asked about",
                           "dir", "socket", "fifo", "chardev") {
  int fd = -1;
  if (inode == "dir") {
    fd = open(ctx.scratch_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else if (inode == "socket") {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  } else if (inode == "fifo") {
    const std::string path = ctx.scratch_dir() + "/fifo";
    if (mkfifo(path.c_str(), 0600) != 0) ctx.broken("mkfifo");
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  } else {
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) ctx.broken(std::string("cannot open the ") + inode + ": " + errno_name(errno));
  const unsigned want = kDioalign | kDioReadAlign | STATX_BASIC_STATS;
  auto report = [&](const unsigned char* b) {
    const uint32_t mask = u32(b, kMask);
    ctx.observe(Outcome::ok((mask & kDioalign) ? 1 : 0, Channel::ret, Phase::completion));
    ctx.observe(Outcome::ok((mask & kDioReadAlign) ? 1 : 0, Channel::ret, Phase::completion));
    const bool zero = u32(b, kMem) == 0 && u32(b, kOff) == 0 && u32(b, kReadOff) == 0;
    ctx.observe(Outcome::ok(zero ? 1 : 0, Channel::ret, Phase::completion));
  };
  alignas(8) unsigned char a[256], b[256];
  std::memset(a, 0, sizeof a);
  std::memset(b, 0, sizeof b);
  if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, want, a) != 0) {
    ctx.observe(Outcome::error(errno, Channel::errno_, Phase::completion));
  } else {
    ctx.observe(Outcome::ok(0, Channel::ret, Phase::completion));
    report(a);
  }
  submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
    io_uring_prep_statx(s, fd, "", AT_EMPTY_PATH, want, reinterpret_cast<struct statx*>(b));
  });
  const int r = reap(ctx, be, 1)[0].res;
  ctx.observe(IoUringBackend::res_outcome(r));
  if (r == 0) report(b);
  close(fd);
}

}  // namespace
}  // namespace aioh
