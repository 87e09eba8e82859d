// ENOSPC for real: a tiny ext4 on a loop device, mounted in a private mount
// namespace of the case's child and filled to the brim, leaving exactly the
// bytes the scenario's own file needs (effect "full:BYTES"), and topped up
// when the scenario arms the fault, its file written. A write that then
// needs a new block gets ENOSPC from the filesystem (ext4_da_write_begin /
// ext4_map_blocks), the same way through every interface, io_uring included.
// The namespace dies with the child and the loop device is LO_FLAGS_AUTOCLEAR,
// so a killed case leaves nothing; the detach is journalled as well. Proof it
// fired: statfs() reads back zero free blocks after the scenario.
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "system/journal.h"
#include "system/loop_device.h"
#include "subprocess.h"

namespace aioh::faults {
namespace {

std::string g_mnt;
long g_loop_id = -1;

// Writes until the filesystem refuses, in shrinking chunks.
void fill(int fd) {
  std::vector<char> buf(1 << 20, 'f');
  off_t off = lseek(fd, 0, SEEK_END);
  for (size_t chunk = buf.size(); chunk >= 4096; chunk /= 16) {
    for (;;) {
      ssize_t n = pwrite(fd, buf.data(), chunk, off);
      if (n <= 0) break;
      off += n;
    }
    fsync(fd);
  }
}

// Whether a file of `len` bytes can be written whole, in 64 KiB writes and a
// fsync as the scenario's file will be; removed again either way.
bool trial_fits(const std::string& path, size_t len) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::vector<char> buf(1 << 16, 't');
  bool ok = true;
  for (size_t off = 0; ok && off < len; off += buf.size()) {
    size_t n = std::min(buf.size(), len - off);
    ok = pwrite(fd, buf.data(), n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  ok = fsync(fd) == 0 && ok;
  close(fd);
  unlink(path.c_str());
  return ok;
}

}  // namespace

std::string validate_enospc(const FaultSpec& f) {
  if (f.target != "ext4-loop" || (f.effect != "full" && !counted(f.effect, "full:")))
    return "enospc fault: target = \"ext4-loop\", effect = \"full\" or \"full:BYTES\" (left for the scenario's file)";
  return "";
}

Installed install_enospc(const FaultSpec& f, FaultState* st, const std::string& case_dir) {
  long leave = f.effect.size() > 5 ? strtol(f.effect.c_str() + 5, nullptr, 0) : 0;
  if (access("/dev/loop-control", W_OK) != 0) return {Installed::skip, "no /dev/loop-control: cannot make a loop device here", ""};
  if (unshare(CLONE_NEWNS) != 0) return {Installed::skip, std::string("unshare(CLONE_NEWNS): ") + errno_name(errno), ""};
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return {Installed::broken, std::string("cannot make / private in the case's namespace: ") + errno_name(errno), ""};

  std::string img = case_dir + "/enospc.img";
  g_mnt = case_dir + "/enospc";
  int ifd = open(img.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (ifd < 0 || ftruncate(ifd, 8 << 20) != 0) return {Installed::broken, "cannot create the loop image", ""};
  close(ifd);
  // No journal (freed blocks are reusable at once), no reserved blocks, few inodes.
  if (std::string err = run_tool({"mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-N", "64", "-b", "4096", img});
      !err.empty())
    return {Installed::skip, "mkfs.ext4 failed or is not installed: " + err, ""};

  int bfd = open(img.c_str(), O_RDWR | O_CLOEXEC);
  if (bfd < 0) return {Installed::broken, "cannot open " + img, ""};
  system::LoopDevice loop = system::attach_loop(bfd, img, {.autoclear = true});  // detaches when the last mount/fd goes
  close(bfd);
  if (loop.failed == system::LoopDevice::control || loop.failed == system::LoopDevice::get_free)
    return {Installed::skip, "LOOP_CTL_GET_FREE failed: no free loop device", ""};
  if (loop.failed == system::LoopDevice::open_device) return {Installed::broken, "cannot open " + loop.path, ""};
  if (loop.failed == system::LoopDevice::configure)
    return {Installed::skip, fmt::format("LOOP_CONFIGURE {}: {}", loop.path, errno_name(loop.err)), ""};
  g_loop_id = loop.journal_id;
  std::string dev = loop.path;
  int lfd = loop.fd;
  mkdir(g_mnt.c_str(), 0700);
  int rc = mount(dev.c_str(), g_mnt.c_str(), "ext4", 0, nullptr);
  int e = errno;
  close(lfd);  // the mount holds the device now
  if (rc != 0) return {Installed::broken, fmt::format("mount {} on {}: {}", dev, g_mnt, errno_name(e)), ""};

  int ffd = open((g_mnt + "/filler").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (ffd < 0) return {Installed::broken, "cannot create the filler file", ""};
  fill(ffd);
  // Give back what the scenario's own file will take, proven by writing it:
  // freeing `leave` bytes of the filler need not make `leave` bytes writable
  // (5.10: of the 16 blocks given back only 15 took data, while statfs
  // counted 16 available), so a trial file of `leave` bytes is written the
  // way CaseContext::scratch_file writes, then removed, and the filler is cut
  // a block further until the trial fits.
  off_t size = lseek(ffd, 0, SEEK_END);
  off_t keep = size > leave ? size - leave : 0;
  int extra = 0;
  for (; leave > 0; extra++) {
    if (ftruncate(ffd, keep) != 0) return {Installed::broken, "cannot trim the filler", ""};
    fsync(ffd);
    if (trial_fits(g_mnt + "/trial", static_cast<size_t>(leave)) || keep == 0 || extra == 64) break;
    keep = keep > 4096 ? keep - 4096 : 0;
  }
  close(ffd);
  snprintf(st->detail, sizeof st->detail, "8 MiB ext4 on %s mounted at %s, filled leaving %ld bytes (%d more block(s) trimmed for it)",
           dev.c_str(), g_mnt.c_str(), leave, extra);
  return {Installed::ok, "", g_mnt};
}

// The scenario has written its own file: what it left over is filled too, so
// the filesystem is full when the scenario's requests start. On 5.10 the
// file's writes need a block more than they keep (the trial above), which
// would otherwise stay free for the write that must fail.
void arm_enospc() {
  int fd = open((g_mnt + "/filler").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  fill(fd);
  close(fd);
}

void release_enospc(FaultState* st) {
  struct statfs sf {};
  if (statfs(g_mnt.c_str(), &sf) == 0) {
    st->calls = 1;
    // f_bavail: what a write may still take (ext4 keeps a few clusters back
    // for metadata, so f_bfree is not 0 on a full filesystem).
    if (sf.f_bavail == 0) st->fired = 1;
    size_t len = strnlen(st->detail, sizeof st->detail);
    snprintf(st->detail + len, sizeof st->detail - len, "; after the case statfs f_bavail=%llu f_bfree=%llu",
             static_cast<unsigned long long>(sf.f_bavail), static_cast<unsigned long long>(sf.f_bfree));
  }
  // The mount dies with this process's namespace and the loop device with it
  // (autoclear); unmount now so that happens before the runner looks.
  umount2(g_mnt.c_str(), MNT_DETACH);
  if (g_loop_id >= 0) Journal::run_journal().done(g_loop_id);
}

AIOH_FAULT_LAYER("enospc", .order = 40, .whole_case = true, .validate = validate_enospc, .install = install_enospc,
                 .arm = arm_enospc, .release = release_enospc, .fiu_point = [](const FaultSpec&) { return std::string("fs/enospc"); },
                 .claim = {false, "loop-create", "makes a loop device (LOOP_CTL_GET_FREE races with another maker)"});

}  // namespace aioh::faults
