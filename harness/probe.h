// The environment probe: facts about this kernel, its libraries and the
// scratch filesystem, found by real round trips before any case runs.
// Expectations and `requires` key on these facts, never on version strings.
#pragma once

#include <string>

#include "environment.h"

namespace aioh {

// Runs every probe. scratch_dir must exist.
Environment probe_environment(const std::string& scratch_dir);

// Library behaviour facts ("liburing.*", "libaio.*"), observed in forked
// children under a seccomp trap filter (probe_libs.cc).
void probe_libraries(Environment& env);
// The version, path and owning package of the liburing and libaio loaded
// (info "liburing_version", "liburing_version_source", ...; probe_libs.cc).
void probe_library_versions(Environment& env);

// The fact names a case table may refer to (for load-time validation).
// Patterned names ("io_uring.op.*", "io_uring.feat.*") are matched by prefix.
bool is_known_fact(const std::string& name);

}  // namespace aioh
