// Errno numbers <-> names. Tables, output and reports speak in names; a number
// appears only as a secondary field. Kernel-internal codes (ERESTARTSYS,
// EIOCBQUEUED, ...) that must never reach user space have names too, so a leak
// is reported as what it is rather than as "unknown".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aioh {

// "EBADF" for 9; "E#<n>" for a number with no name.
std::string errno_name(int err);
// 9 for "EBADF"; nullopt for an unknown name.
std::optional<int> errno_from_name(std::string_view name);
// True for codes defined only inside the kernel (include/linux/errno.h).
bool errno_is_kernel_internal(int err);

}  // namespace aioh
