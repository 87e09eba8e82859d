// The environment probe: facts about this kernel, its libraries and the
// scratch filesystem, found by real round trips before any case runs.
// Expectations and `requires` key on these facts, never on version strings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

namespace aioh {

using Fact = std::variant<bool, int64_t, std::string>;

struct InterfaceAvailability {
  bool available = false;
  std::string reason;  // why not, as the probe classified it
};

struct Environment {
  // Flat facts, e.g. "root", "io_uring", "io_uring.op.READV",
  // "io_uring.feat.EXT_ARG", "aio_max_nr", "dio_mem_align", "scratch_fs".
  std::map<std::string, Fact> facts;
  // Informational (never used for expectations).
  std::map<std::string, std::string> info;
  std::map<std::string, InterfaceAvailability> interfaces;
  std::string scratch_dir;

  bool flag(const std::string& name) const;                 // false if absent
  std::optional<int64_t> number(const std::string& name) const;
  std::string text(const std::string& name) const;
};

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
