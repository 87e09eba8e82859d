// The block layer's null_blk mechanism: a memory-backed null_blk disk made
// through configfs (/sys/kernel/config/nullb/aioh-<pid>), with bad blocks
// (its `badblocks` attribute) or a completion delay (irqmode=2,
// completion_nsec). null_blk counts nothing itself, so the proof a bad
// block fired is the block layer's log line, else the disk's own counters
// and a direct read of the bad range refused now.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/block_mechanism.h"
#include "pattern.h"
#include "system/block_device.h"
#include "system/journal.h"

namespace aioh::faults::block {
namespace {

constexpr const char* kConfigfs = "/sys/kernel/config";

// configfs lives at /sys/kernel/config; mounted there if nobody has.
void mount_configfs(BlockCase& b) {
  const std::string cfg = kConfigfs;
  if (exists(cfg + "/nullb") || slurp("/proc/mounts").find(" " + cfg + " configfs ") != std::string::npos) return;
  b.configfs_id = Journal::run_journal().record(UndoKind::umount, {cfg});
  if (mount("configfs", cfg.c_str(), "configfs", 0, nullptr) != 0) {
    Journal::run_journal().done(b.configfs_id);
    b.configfs_id = -1;
    throw BlockFail{Installed::skip, std::string("cannot mount configfs: ") + errno_name(errno)};
  }
  b.configfs_mnt = cfg;
}

// 0 when a 512-byte O_DIRECT read of the first bad sector succeeds, else its errno.
int bad_range_refused(const BlockCase& b) {
  int fd = open(b.node.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return errno;
  AlignedBuffer buf(4096);
  ssize_t n = pread(fd, buf.data(), 512, static_cast<off_t>(b.range.first * 512));
  int e = n < 0 ? errno : 0;  // null_blk fails the whole request or none of it
  close(fd);
  return e;
}

}  // namespace

void make_null_blk(BlockCase& b) {
  load_module(b, "configfs");
  mount_configfs(b);
  load_module(b, "null_blk", {"nr_devices=0"});
  const std::string cfg = kConfigfs;
  if (!exists(cfg + "/nullb")) throw BlockFail{Installed::skip, "null_blk has no configfs interface (" + cfg + "/nullb)"};
  b.nullb_dir = fmt::format("{}/nullb/aioh-{}", cfg, getpid());
  b.nullb_id = Journal::run_journal().record(UndoKind::nullb_remove, {b.nullb_dir});
  if (mkdir(b.nullb_dir.c_str(), 0755) != 0) {
    Journal::run_journal().done(b.nullb_id);
    b.nullb_id = -1;
    throw BlockFail{Installed::broken, fmt::format("mkdir {}: {}", b.nullb_dir, errno_name(errno))};
  }
  // Documentation/block/null_blk.rst: size in MB, memory_backed keeps the
  // data, irqmode=2 completes through a timer after completion_nsec.
  std::vector<std::pair<std::string, std::string>> attrs = {
      {"size", std::to_string(kDeviceMiB)}, {"blocksize", "512"}, {"memory_backed", "1"}};
  if (b.spec.target == "null_blk-delay") {
    attrs.push_back({"irqmode", "2"});
    attrs.push_back({"completion_nsec", std::to_string(b.delay_ms * 1000000)});
  }
  attrs.push_back({"power", "1"});
  for (auto& [k, v] : attrs)
    if (auto e = put(b.nullb_dir + "/" + k, v); !e.empty()) throw BlockFail{Installed::skip, "null_blk configfs: " + e};
  // The disk is nullb<index>, or (newer kernels) named after the configfs item.
  std::string index = trim(slurp(b.nullb_dir + "/index"));
  std::string item = b.nullb_dir.substr(b.nullb_dir.rfind('/') + 1);
  b.disk = exists("/sys/block/" + item) ? item : "nullb" + index;
  if (!exists("/sys/block/" + b.disk))
    throw BlockFail{Installed::broken, "null_blk: no disk " + b.disk + " or " + item + " after power=1"};
  b.node = node_for(b, b.disk);
  prefill(b.node);
  if (b.spec.target == "null_blk-badblocks") {
    if (!exists(b.nullb_dir + "/badblocks")) throw BlockFail{Installed::skip, "null_blk has no configfs badblocks attribute here"};
    if (auto e = put(b.nullb_dir + "/badblocks", fmt::format("+{}-{}", b.range.first, b.range.last)); !e.empty())
      throw BlockFail{Installed::broken, e};
  }
}

void readback_null_blk(const BlockCase& b, FaultState* st) {
  if (b.spec.target != "null_blk-badblocks") return readback_delay(b, st);
  // null_blk counts nothing: its failed requests are the block layer's log lines.
  auto lines = kmsg_lines_for(b, b.disk);
  st->calls = st->fired = static_cast<long>(lines.size());
  if (!lines.empty()) {
    append_detail(st, "kernel log: " + lines.front().substr(0, 200));
    return;
  }
  // Those lines are rate-limited (block/blk-mq.c blk_print_req_error() is
  // printk_ratelimited: 10 per 5 s), so a run of fault cases loses them.
  // Then the proof is the disk's own counters (the case's requests reached
  // it) and the kernel refusing a read of the bad range right now.
  uint64_t ios = read_stat(b.disk).ios_since(b.before);
  int probe = bad_range_refused(b);
  st->calls = static_cast<long>(ios);
  if (ios > 0 && probe == EIO) st->fired = 1;
  append_detail(st, fmt::format("no \"error, dev {},\" line in the kernel log (rate-limited?); {}: {} I/Os since install; an O_DIRECT "
                                "read of sector {} now {}", b.disk, b.disk, ios, b.range.first,
                                probe == 0 ? "succeeds" : "fails " + errno_name(probe)));
}

void teardown_null_blk(BlockCase& b) {
  if (b.nullb_id >= 0 && system::remove_nullb(b.nullb_dir).empty()) Journal::run_journal().done(b.nullb_id);
}

}  // namespace aioh::faults::block
