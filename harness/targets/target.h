// Test targets for the O_DIRECT sweep: where a case's file (or block device)
// lives. A target is a raw loop device with a chosen logical sector size, a
// filesystem made on one, tmpfs, the scratch directory's own filesystem, a
// directory the user names (--target) or a block device they name (--device).
// In a guest of the VM orchestrator (vm/), the guest's own emulated disks are
// targets too: one used raw, one per filesystem made directly on it, named by
// AIOH_GUEST_DISKS (see guest_targets()).
// Each target is created for the run, recorded in the undo journal BEFORE it
// exists, probed for its O_DIRECT geometry (STATX_DIOALIGN on a file in it,
// else sysfs logical_block_size and dma_alignment), and torn down after.
// The probed geometry becomes facts overlaid on the environment, so the case
// tables predict each request's answer from the target it runs on.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "probe.h"
#include "result.h"

namespace aioh {

struct Target {
  // What it is (fixed before the run, so ids can be listed without root).
  std::string name;          // "xfs-4096", "loop-512", "tmpfs", "scratch", "dir", "device"
  std::string kind;          // raw | fs | tmpfs | scratch | dir | device
  std::string fs;            // ext4, xfs, btrfs, tmpfs; "" for a raw device
  int64_t sector_size = 0;   // the loop device's logical sector size, 0 if none
  std::string user_path;     // --target PATH / --device /dev/X
  std::string guest_disk;    // the orchestrator's scratch disk under it (guest_targets)
  // What it became (filled by TargetSet::create).
  std::string dir;           // where case directories go (file targets)
  std::string device;        // the block device (raw targets; the loop under a fs)
  std::string backing;       // the loop's backing file
  std::string reason;        // non-empty: unavailable, and why
  std::map<std::string, Fact> facts;
  std::map<std::string, std::string> info;

  bool raw() const { return kind == "raw" || kind == "device"; }
  bool needs_root() const { return kind == "raw" || kind == "fs" || kind == "tmpfs"; }
  // What a result records of it (its JSON: {"name","kind","fs","logical_block_size",...}).
  TargetRecord record() const;
};

// Facts only targets publish (besides dio, dio_mem_align, dio_offset_align,
// logical_block_size, dma_alignment, statx_dioalign, which the scratch probe
// has too): dio_fallback, dio_read_offset_align,
// target_raw, target_fs, target_size. Used by the case-table loader to accept them in predicates.
bool is_target_fact(const std::string& name);

// The targets a run uses. Without --target/--device: loop-512, loop-4096,
// ext4-512, xfs-4096, btrfs-4096, tmpfs, scratch; in an orchestrator guest
// (AIOH_GUEST_DISKS set) guest_targets() instead.
std::vector<Target> default_targets();
// AIOH_GUEST_DISKS="raw=/dev/nvme0n2,ext4=/dev/nvme0n3,...", set by the VM
// orchestrator for its guests (and for its `--list`, so ids match): "disk"
// (the raw disk), "disk-<fs>" (the filesystem made on the disk), then
// loop-512, loop-4096 (loops over files on the guest's scratch filesystem,
// itself on the emulated disk) and tmpfs. Names do not carry the geometry,
// so one row's id is the same in every guest and the columns compare. A bad
// entry is an error (std::invalid_argument) naming it.
std::vector<Target> guest_targets(const std::string& spec);
// Why `dev` must not be written as an orchestrator guest disk, or "" when it
// may: only in a guest (AIOH_VM_GUEST), a block device, carrying the
// orchestrator's label (kGuestDiskLabel at offset 0, written on the host into
// the disk image it made), and refused by none of --device's rules
// (system::device_refusal: mounted, swap, held, a member, the root disk).
std::string guest_disk_refusal(const std::string& dev);
inline constexpr char kGuestDiskLabel[] = "AIOHARNESS-GUEST-SCRATCH-DISK\n";
// --target PATH: one target, the user's directory (cases go in a private
// subdirectory that is removed after).
Target dir_target(const std::string& path);
// --device /dev/X (with --destructive): one raw target, the user's device.
Target device_target(const std::string& path);

// A row's `targets` selector matches a target by name, kind or fs, or one of
// the groups "all", "files" (I/O to a file in a directory) and "blockdev"
// (I/O to the block device itself).
bool target_selected(const std::string& selector, const Target& t);

// The environment a case on target t sees: t's facts over env's.
Environment overlay(const Environment& env, const Target& t);

class TargetSet {
 public:
  explicit TargetSet(std::vector<Target> specs) : targets_(std::move(specs)) {}
  ~TargetSet() { teardown(); }
  TargetSet(const TargetSet&) = delete;
  TargetSet& operator=(const TargetSet&) = delete;

  // Creates and probes the targets named in `wanted` (the others stay
  // unavailable with "not used by this run"); artefacts go under
  // scratch_dir. Progress and failures go to `log` lines.
  void create(const std::vector<std::string>& wanted, const std::string& scratch_dir,
              std::vector<std::string>* log);
  // Unmounts, detaches and removes what create() made, newest first, marking
  // each journal entry done. Idempotent. Returns what failed ("" entries ok).
  std::vector<std::string> teardown();

  const Target* find(const std::string& name) const;
  const std::vector<Target>& all() const { return targets_; }
  nlohmann::json to_json() const;  // the environment's "targets" array
  // Why the device the user named (--device) cannot be used, or "".
  std::string user_device_refusal() const;

 private:
  struct Undo {
    long journal_id;
    int kind;  // UndoKind
    std::vector<std::string> args;
  };
  void create_one(Target& t, const std::string& scratch_dir);
  void make_private_dir(Target& t);
  void claim_user_device(Target& t);
  void take_guest_disk(Target& t);
  void mount_tmpfs(Target& t, const std::string& scratch_dir);
  void attach_loop(Target& t, const std::string& scratch_dir);
  void mount_new_fs(Target& t, const std::string& scratch_dir);
  std::string mkdir_in_scratch(Target& t, const std::string& scratch_dir, const std::string& name);
  void probe(Target& t);
  std::vector<Target> targets_;
  std::vector<Undo> undo_;
  std::vector<int> held_fds_;  // loop and claimed devices held open while the run lasts
};

}  // namespace aioh
