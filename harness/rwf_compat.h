// RWF_* per-request flags (include/uapi/linux/fs.h) newer than the build
// machine's kernel headers. Support is decided at run time by the probes and
// the rows, never by these definitions.
#pragma once

#include <sys/uio.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008  // Linux 4.14
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x00000010  // Linux 4.16
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020  // Linux 6.9
#endif
#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x00000040  // Linux 6.11
#endif
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080  // Linux 6.14
#endif
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100
#endif
