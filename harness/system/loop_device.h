// The one loop-device helper: a backing file attached to a free loop device
// (LOOP_CTL_GET_FREE + LOOP_CONFIGURE), journalled (loop_detach) before it
// exists so a killed run's device is detached by the next run or --cleanup.
// Used by the targets (raw and filesystem targets), the enospc fault layer
// (a tiny ext4) and the block fault layer (the disk under device-mapper).
// It returns what failed and where instead of throwing, so each caller keeps
// its own verdict (a target's reason, a layer's skip or broken).
#pragma once

#include <string>

namespace aioh::system {

struct LoopOptions {
  unsigned block_size = 0;  // LOOP_CONFIGURE block_size; 0: the default 512
  bool autoclear = false;   // LO_FLAGS_AUTOCLEAR: detaches when the last holder goes
  // Another process may take the free device between GET_FREE and CONFIGURE
  // (EBUSY): ask again this many times in all.
  int attempts = 1;
};

struct LoopDevice {
  std::string path;       // /dev/loopN
  int number = -1;        // N
  int fd = -1;            // the device, open O_RDWR: the caller's to close (or hold)
  long journal_id = -1;   // the loop_detach entry, the caller's to mark done
  // When it failed: the step, and its errno. Nothing stays journalled then.
  enum Step { none, control, get_free, open_device, configure } failed = none;
  int err = 0;
  bool ok() const { return failed == none; }
};

// `backing_fd` is the open backing file, `backing` its path (the journal
// entry and lo_file_name). The caller closes backing_fd afterwards.
LoopDevice attach_loop(int backing_fd, const std::string& backing, const LoopOptions& o);

}  // namespace aioh::system
