// What the probe found about this machine, as a value every part of the
// harness may read (rows' `requires`/`when`, a backend's availability, the
// writers' environment block) without depending on how it was probed. The
// probe itself (probe.h) fills it; this header holds only the value, so a
// part that reads facts does not pull in the probe and everything it calls.
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
  // The info entry, "" when absent (a reason a probe recorded).
  std::string note(const std::string& name) const;
};

}  // namespace aioh
