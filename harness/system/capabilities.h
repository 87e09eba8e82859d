// The capability bits the fault layers and the policy profiles change in the
// case's (or the probe's) own process: an ordinary user's view of io_uring
// and of locked memory, without leaving root.
#pragma once

namespace aioh::system {

// CAP_SYS_ADMIN in or out of the effective set only (permitted keeps it, so
// it can come back): io_uring_allowed() lets CAP_SYS_ADMIN through
// kernel.io_uring_disabled=1. False when capget/capset refused.
bool set_admin_effective(bool on);
// Drops a capability from the effective and permitted sets for good.
bool drop_capability(int cap);
bool has_effective(int cap);

}  // namespace aioh::system
