// The JSON forms of results and summaries (schema: reports/schema/result.schema.json).
#include "result.h"

#include <variant>

namespace aioh {

std::string Observation::token() const {
  if (errno_name) return *errno_name;
  if (!sym.empty()) return sym;
  return std::to_string(value);
}

nlohmann::json to_json(const Observation& o) {
  nlohmann::json j = {{"phase", phase_name(o.phase)}, {"channel", channel_name(o.channel)}};
  if (o.errno_name) {
    j["errno"] = *o.errno_name;
    j["errno_num"] = o.errno_num;
  } else {
    j["value"] = o.value;
    if (!o.sym.empty()) j["sym"] = o.sym;
  }
  if (o.elapsed_ms) j["elapsed_ms"] = *o.elapsed_ms;
  return j;
}

nlohmann::json to_json(const TargetRecord& t) {
  nlohmann::json j = {{"name", t.name}, {"kind", t.kind}, {"fs", t.fs.empty() ? nlohmann::json() : nlohmann::json(t.fs)}};
  if (t.sector_size) j["sector_size"] = t.sector_size;
  if (!t.device.empty()) j["device"] = t.device;
  if (!t.dir.empty()) j["dir"] = t.dir;
  for (auto& [k, v] : t.facts) std::visit([&](auto&& x) { j[k] = x; }, v);
  for (auto& [k, v] : t.info) j[k] = v;
  j["available"] = t.reason.empty();
  if (!t.reason.empty()) j["reason"] = t.reason;
  return j;
}

nlohmann::json to_json(const FaultRecord& f) {
  nlohmann::json j = {{"layer", f.layer}, {"target", f.target}, {"effect", f.effect}, {"trigger", f.trigger},
                      {"fiu", f.fiu},     {"seed", f.seed},     {"fired", f.fired()}, {"fired_count", f.fired_count},
                      {"calls", f.calls}};
  if (!f.range.empty()) j["range"] = f.range;
  if (!f.readback.empty()) j["readback"] = f.readback;
  return j;
}

nlohmann::json to_json(const Result& r) {
  nlohmann::json obs = nlohmann::json::array();
  for (auto& o : r.observations) obs.push_back(to_json(o));
  nlohmann::json xfail;
  if (r.xfail) {
    xfail = {{"reason", r.xfail->reason}, {"ref", r.xfail->ref}};
    if (!r.xfail->undecided.empty()) xfail["undecided"] = r.xfail->undecided;
  }
  nlohmann::json j = {
      {"id", r.id},         {"case", r.case_id},       {"area", r.area},
      {"interface", r.interface}, {"scenario", r.scenario}, {"verdict", r.verdict_name()},
      {"expected", r.expected}, {"observed", r.observed},
      {"observations", obs}, {"reason", r.reason},
      {"duration_ms", r.duration_ms}, {"source", r.source},
      {"doc", r.doc.empty() ? nlohmann::json() : nlohmann::json(r.doc)},
      {"xfail", xfail},
      {"target", r.target ? to_json(*r.target) : nlohmann::json()},
      {"fault", r.fault ? to_json(*r.fault) : nlohmann::json()},
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

int Summary::count(Verdict v) const {
  auto it = counts.find(v);
  return it == counts.end() ? 0 : it->second;
}

bool Summary::failed() const {
  for (auto& [v, n] : counts)
    if (n > 0 && verdict_def(v).fails_run) return true;
  return false;
}

bool Summary::all_skipped() const { return total() > 0 && count(Verdict::skip) == total(); }

int Summary::exit_status() const {
  if (failed()) return kExitFailed;
  if (all_skipped()) return kExitAllSkipped;
  return kExitOk;
}

namespace {
nlohmann::json counts_json(const std::map<Verdict, int>& counts) {
  nlohmann::json c = nlohmann::json::object();
  for (auto& d : kVerdictDefs) {
    if (d.vm_only) continue;
    auto it = counts.find(d.verdict);
    c[std::string(d.name)] = it == counts.end() ? 0 : it->second;
  }
  return c;
}
}  // namespace

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j = counts_json(s.counts);
  j["total"] = s.total();
  nlohmann::json bi = nlohmann::json::object();
  for (auto& [iface, counts] : s.by_interface) bi[iface] = counts_json(counts);
  j["by_interface"] = bi;
  return j;
}

}  // namespace aioh
