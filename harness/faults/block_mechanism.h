// Inside the block fault layer: what its three mechanisms share. The layer
// (block.cc) validates the row, picks the mechanism by the target's facility
// and drives one case's device through make, readback and teardown; each
// mechanism is one file: null_blk (block_null_blk.cc), scsi_debug
// (block_scsi_debug.cc), device-mapper over a loop device (block_dm.cc).
// Every helper here throws BlockFail, which install turns into the row's
// skip or broken verdict after undoing what was made.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "faults/block.h"

namespace aioh::faults::block {

// What the scenario's prefill covers: the rows work in the first 128 KiB.
constexpr size_t kPrefill = 128 << 10;
constexpr uint64_t kDeviceMiB = 4;

// /sys/block/X/stat (Documentation/block/stat.rst): read I/Os, ..., read
// ticks (ms), write I/Os, ..., write ticks (ms).
struct Stat {
  uint64_t rd_ios = 0, rd_ticks = 0, wr_ios = 0, wr_ticks = 0;
  uint64_t ios_since(const Stat& before) const { return (rd_ios - before.rd_ios) + (wr_ios - before.wr_ios); }
};

// One case's faulty device: what was made (each with its journal entry's
// id, -1 when not made) and the counters it started with.
struct BlockCase {
  FaultSpec spec;
  std::string case_dir;
  std::string disk, node;             // the faulty disk (nullb3, sdb, dm-2) and its node
  std::string under_disk, loop_dev, loop_backing;
  std::string dm_name, dm_err_name, nullb_dir, configfs_mnt;
  long dm_err_id = -1, dm_id = -1, nullb_id = -1, loop_id = -1, configfs_id = -1;
  std::vector<std::pair<std::string, long>> modules;  // loaded here, in load order
  int kmsg = -1;
  Stat before, under_before;
  SectorRange range;
  uint64_t delay_ms = 0, ioerr_before = 0;
  bool active = false;
};

struct BlockFail {
  Installed::Kind kind;
  std::string reason;
};

// Shared helpers (block.cc).
std::string slurp(const std::string& path);
std::string trim(std::string s);
bool exists(const std::string& path);
// "" or why the write failed (configfs and sysfs answer through write()).
std::string put(const std::string& path, const std::string& value);
Stat read_stat(const std::string& disk);
// Loads `module` unless it is already there; journalled before modprobe.
void load_module(BlockCase& b, const std::string& module, const std::vector<std::string>& params = {});
// The disk's node: /dev/X from devtmpfs, else one made in the case directory.
std::string node_for(const BlockCase& b, const std::string& disk);
// The first kPrefill bytes get the scratch pattern, written past the page
// cache, which is then dropped so the case's reads reach the device.
void prefill(const std::string& node);
// Kernel log lines about the disk since install: the block layer's
// "<status> error, dev X, sector N" (blk_print_req_error) and SCSI sense.
std::vector<std::string> kmsg_lines_for(const BlockCase& b, const std::string& disk);
void append_detail(FaultState* st, const std::string& text);
// A delaying device (null_blk-delay, dm-delay): the time the disk's requests
// took, from its own counters.
void readback_delay(const BlockCase& b, FaultState* st);

// The mechanisms: make throws BlockFail; teardown undoes its own steps
// (newest first) and marks each done in the journal once undone.
void make_null_blk(BlockCase& b);
void readback_null_blk(const BlockCase& b, FaultState* st);
void teardown_null_blk(BlockCase& b);

void make_scsi_debug(BlockCase& b);
void readback_scsi_debug(const BlockCase& b, FaultState* st);
void teardown_scsi_debug(BlockCase& b);

void make_dm(BlockCase& b);
void readback_dm(const BlockCase& b, FaultState* st);
void teardown_dm(BlockCase& b);

}  // namespace aioh::faults::block
