// The block fault layer (faults/block.cc): a faulty block device made for one
// case inside a VM guest — null_blk with bad blocks or a completion delay,
// scsi_debug with a medium-error range, device-mapper error/flakey/delay
// tables driven by their ioctls (the guest has no dmsetup). This header holds
// what the rest of the harness calls (the probe's facts, the scheduler's
// resource classes) and the pure pieces the unit tests check; the device-mapper
// control and the undo steps the journal also runs are system/block_device.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "faults/fault.h"
#include "system/block_device.h"

namespace aioh::faults {

// The targets of layer "block" and the facility each needs.
// null_blk-badblocks, null_blk-delay -> null_blk; scsi_debug-medium-error ->
// scsi_debug; dm-error, dm-flakey, dm-delay -> device_mapper. "" if unknown.
std::string block_facility(const std::string& target);

// "" when the facility can be used on this kernel (its module is loaded,
// built in, or listed in modules.dep), else why not. Facility names are the
// probe's facts: null_blk, device_mapper, scsi_debug.
std::string block_facility_reason(const std::string& facility);
// The pure part: `loaded` (/sys/module/NAME exists), `modules_dep` and
// `modules_builtin` (the text of those files for the running kernel).
bool module_present(const std::string& module, bool loaded, const std::string& modules_dep,
                    const std::string& modules_builtin);
// The skip reason a row gets when its facility is missing.
std::string block_skip_reason(const std::string& facility, const std::string& why);

// Validation of a block row's effect (called by validate()).
std::string validate_block(const FaultSpec& f);

// A parsed effect "sectors:S-E" (inclusive, 512-byte sectors) or "delay_ms:N".
struct SectorRange {
  uint64_t first = 0, last = 0;
};
bool parse_sectors(const std::string& effect, SectorRange* r);
bool parse_delay_ms(const std::string& effect, uint64_t* ms);

using system::DmTarget;
using system::dm_create;
using system::dm_load_and_resume;
using system::dm_remove;
using system::dm_status;
using system::dm_table_load_buffer;
// The table for a target/effect over `under` ("MAJ:MIN" of the device below,
// unused by dm-error) of `sectors` sectors. Documentation/admin-guide/
// device-mapper/{dm-flakey,delay}.rst give the argument order.
DmTarget dm_table_for(const std::string& target, const std::string& effect, const std::string& under,
                      uint64_t sectors);
// The kernel defect behind the buffered bad-block read rows on io_uring: on a
// kernel whose buffered read path calls ->readpage under IOCB_WAITQ (before
// "mm/filemap: don't call ->readpage if IOCB_WAITQ is set", Linux 5.12),
// each async retry of a read the device failed issues the read again, so the
// request never completes with EIO. Reproduced in a child on the rows' own
// device (null_blk, bad sectors 64-71, made and undone by this layer in
// scratch_dir): reissued = true when no completion came in 2 s, false on EIO;
// unset (with why) where it cannot be decided (no null_blk, not root).
struct ReissueProbe {
  std::optional<bool> reissued;
  std::string why;
};
ReissueProbe probe_buffered_read_reissue(const std::string& scratch_dir);

// Layer entry points (dispatched from fault.cc).
Installed install_block(const FaultSpec& f, FaultState* st, const std::string& case_dir);
void release_block(FaultState* st);
// The faulty device the scenario is pointed at ("" when none is installed).
std::string block_device();

}  // namespace aioh::faults
