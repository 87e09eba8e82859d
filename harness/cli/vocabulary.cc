// The `--vocabulary` document (see cli/vocabulary.h).
#include "cli/vocabulary.h"

#include "backend.h"
#include "faults/fault.h"
#include "outcome.h"
#include "vocabulary.h"
#include "writers/writer.h"

namespace aioh::cli {

nlohmann::json vocabulary_json() {
  using nlohmann::json;
  json verdicts = json::array();
  for (auto& d : kVerdictDefs)
    verdicts.push_back({{"name", d.name}, {"class", verdict_class_name(d.cls)}, {"fails_run", d.fails_run},
                        {"vm_only", d.vm_only}, {"meaning", d.meaning}});
  json exits = json::array();
  for (auto& e : kExitStatuses) exits.push_back({{"status", e.status}, {"name", e.name}, {"meaning", e.meaning}});
  json phases = json::array(), channels = json::array();
  for (auto& row : kPhaseNames) phases.push_back(row.name);
  for (auto& row : kChannelNames) channels.push_back(row.name);
  json interfaces = json::array();
  for (auto& i : interface_names()) interfaces.push_back(i);  // catalog order (backend.h)
  json formats = json::array();
  for (auto f : kFormats) formats.push_back(std::string(f));
  return {{"schema", "aioharness-vocabulary/1"},
          {"verdicts", verdicts},
          {"exit_statuses", exits},
          {"phases", phases},
          {"channels", channels},
          {"interfaces", interfaces},
          {"fault_layers", faults::layer_names()},
          {"formats", formats}};
}

}  // namespace aioh::cli
