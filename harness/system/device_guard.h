// Device safety for `--device /dev/X --destructive`, the way blktests and
// the trusted disk tools refuse a device in use: the target cases overwrite
// the device, so a one-letter typo must not destroy a live disk. A device is
// refused — and the refusal names why — when it (or, for a whole disk, one of
// its partitions) is mounted (/proc/self/mountinfo), an active swap
// (/proc/swaps), held by a device built on it or itself built on others
// (/sys/class/block/*/holders, slaves: device-mapper, LVM, RAID), carries an
// LVM or md RAID member label, or holds the root filesystem (the device, the
// disk it is on, or a device under it). `--destructive` does not override
// these. The device is then opened with O_EXCL and held for the run, so
// nothing can mount or claim it while the cases write to it.
#pragma once

#include <string>

namespace aioh::system {

// "" when `path` is a block device none of the rules refuses, else why not
// ("mounted on /mnt (/proc/self/mountinfo)").
std::string device_refusal(const std::string& path);

// device_refusal(), then open(O_RDWR | O_EXCL): "" and the fd in *fd (hold it
// for the run), else why not.
std::string claim_device(const std::string& path, int* fd);

// Whether `path` is a mount point in this process's mount namespace
// (/proc/self/mountinfo, unescaped), as the rules above read it.
bool is_mount_point(const std::string& path);

}  // namespace aioh::system
