// --list and --list-scenarios: the selected ids (with their rows, for tools)
// and every scenario with the parameters it declares.
#include "cli/listing.h"

#include <algorithm>
#include <climits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "resources.h"
#include "scenario.h"
#include "writers/writer.h"

namespace aioh::cli {

namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string default_text(const ParamSpec& p) {
  if (p.required) return "(required)";
  if (p.optional) return "(none)";
  if (auto* b = std::get_if<bool>(&p.def)) return *b ? "true" : "false";
  if (auto* i = std::get_if<int64_t>(&p.def)) return std::to_string(*i);
  return fmt::format("\"{}\"", std::get<std::string>(p.def));
}

bool has_range(const ParamSpec& p) {
  return (p.type == ParamSpec::Type::integer || p.integer_items) && (p.min != INT64_MIN || p.max != INT64_MAX);
}

std::string bound(int64_t v) {
  if (v == INT64_MIN) return "-inf";
  if (v == INT64_MAX) return "inf";
  return std::to_string(v);
}

// What values it takes, in one phrase.
std::string allowed_text(const ParamSpec& p) {
  std::string what;
  if (p.type == ParamSpec::Type::boolean) return "true|false";
  if (p.type == ParamSpec::Type::integer) return has_range(p) ? fmt::format("[{}, {}]", bound(p.min), bound(p.max)) : "any integer";
  if (p.integer_items) what = fmt::format("integers in [{}, {}]", bound(p.min), bound(p.max));
  else if (!p.choices.empty()) what = join(p.choices, "|");
  else what = "any text";
  if (p.list_sep) what = fmt::format("'{}'-separated list of {}", p.list_sep, what);
  return what;
}

nlohmann::json param_json(const ParamSpec& p) {
  nlohmann::json j = {{"name", p.name}, {"type", param_type_name(p.type)}, {"meaning", p.help},
                      {"optional", p.optional}, {"required", p.required}};
  if (!p.optional && !p.required) std::visit([&](auto& v) { j["default"] = v; }, p.def);
  if (has_range(p)) {
    if (p.min != INT64_MIN) j["min"] = p.min;
    if (p.max != INT64_MAX) j["max"] = p.max;
  }
  if (!p.choices.empty()) j["choices"] = p.choices;
  if (p.list_sep) {
    j["list_separator"] = std::string(1, p.list_sep);
    j["items"] = p.integer_items ? "integer" : "string";
  }
  return j;
}

}  // namespace

void print_scenarios(const Options& o) {
  if (o.format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& name : scenario_names()) {
      auto* d = find_scenario_decl(name);
      nlohmann::json params = nlohmann::json::array();
      for (auto& p : d->params) params.push_back(param_json(p));
      arr.push_back({{"name", name}, {"params", params}});
    }
    fmt::print("{}\n", json_dump(arr, 2));
    return;
  }
  for (auto& name : scenario_names()) {
    auto* d = find_scenario_decl(name);
    fmt::print("{}{}\n", name, d->params.empty() ? " (no parameters)" : "");
    size_t w_name = 0, w_type = 0, w_def = 0, w_allowed = 0;
    for (auto& p : d->params) {
      w_name = std::max(w_name, p.name.size());
      w_type = std::max(w_type, param_type_name(p.type).size());
      w_def = std::max(w_def, default_text(p).size());
      w_allowed = std::max(w_allowed, allowed_text(p).size());
    }
    for (auto& p : d->params)
      fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", p.name, w_name, param_type_name(p.type), w_type,
                 default_text(p), w_def, allowed_text(p), w_allowed, p.help);
  }
}

void print_list(const Selection& sel, const Options& o) {
  if (o.format != "json") {
    for (auto& r : sel.runs) fmt::print("{}\n", r.id);
    return;
  }
  nlohmann::json arr = nlohmann::json::array();
  for (auto& r : sel.runs) {
    arr.push_back({{"id", r.id}, {"case", r.row->case_id()}, {"area", r.row->area},
                   {"interface", r.interface}, {"scenario", r.row->scenario}, {"source", r.row->source},
                   {"resources", to_json(derive_claim(r, sel.targets))}});
    // The VM orchestrator builds each guest's device faults from these.
    if (auto& f = r.row->fault)
      arr.back()["fault"] = {{"layer", f->layer}, {"target", f->target}, {"effect", f->effect}, {"trigger", f->trigger}};
  }
  fmt::print("{}\n", json_dump(arr, 2));
}

}  // namespace aioh::cli
