// JSON lines from the case's child to the runner (see reporter.h).
#include "reporter.h"

#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "errno_names.h"

namespace aioh {

void Reporter::line(const std::string& s) {
  std::string buf = s + "\n";
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the runner is gone; nothing left to tell
    off += n;
  }
}

void Reporter::observe(const Outcome& o, std::optional<double> elapsed_ms) {
  nlohmann::json j = {{"t", "obs"},
                      {"phase", phase_name(o.phase)},
                      {"channel", channel_name(o.channel)}};
  if (o.is_error) {
    j["errno"] = errno_name(o.err);
    j["errno_num"] = o.err;
  } else {
    j["value"] = o.value;
    if (!o.sym.empty()) j["sym"] = o.sym;
  }
  if (elapsed_ms) j["elapsed_ms"] = *elapsed_ms;
  line(j.dump());
}

void Reporter::fail(const std::string& what) {
  line(nlohmann::json{{"t", "fail"}, {"what", what}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
void Reporter::convention(const std::string& what) {
  line(nlohmann::json{{"t", "conv"}, {"what", what}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
void Reporter::note(const std::string& text) {
  line(nlohmann::json{{"t", "note"}, {"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
void Reporter::exit(const std::string& kind, const std::string& reason) {
  line(nlohmann::json{{"t", "exit"}, {"kind", kind}, {"reason", reason}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
void Reporter::done() { line(R"({"t":"done"})"); }

}  // namespace aioh
