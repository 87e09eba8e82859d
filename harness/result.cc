// JSON forms of results and summaries (the schema in docs/result-schema.md).
#include "result.h"

namespace aioh {

nlohmann::json to_json(const Result& r) {
  nlohmann::json j = {
      {"id", r.id},         {"case", r.case_id},       {"area", r.area},
      {"interface", r.interface}, {"scenario", r.scenario}, {"verdict", r.verdict},
      {"expected", r.expected}, {"observed", r.observed},
      {"observations", r.observations}, {"reason", r.reason},
      {"duration_ms", r.duration_ms}, {"source", r.source},
      {"doc", r.doc.empty() ? nlohmann::json() : nlohmann::json(r.doc)},
      {"xfail", r.xfail},   {"target", r.target}, {"fault", r.fault},
      {"notes", r.notes}};
  if (!r.stderr_tail.empty()) j["stderr"] = r.stderr_tail;
  return j;
}

void Summary::add(const Result& r) {
  counts[r.verdict]++;
  by_interface[r.interface][r.verdict]++;
}

int Summary::total() const {
  int n = 0;
  for (auto& [_, c] : counts) n += c;
  return n;
}

bool Summary::failed() const {
  for (const char* v : {"fail", "timeout", "crash", "broken"}) {
    auto it = counts.find(v);
    if (it != counts.end() && it->second > 0) return true;
  }
  return false;
}

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j = {{"total", s.total()}};
  for (const char* v : kVerdicts) {
    auto it = s.counts.find(v);
    j[v] = it == s.counts.end() ? 0 : it->second;
  }
  nlohmann::json bi = nlohmann::json::object();
  for (auto& [iface, counts] : s.by_interface) {
    nlohmann::json c = nlohmann::json::object();
    for (const char* v : kVerdicts) {
      auto it = counts.find(v);
      c[v] = it == counts.end() ? 0 : it->second;
    }
    bi[iface] = c;
  }
  j["by_interface"] = bi;
  return j;
}

}  // namespace aioh
