// Output writers. Every format is rendered from the same Result/Summary data;
// the streaming ones (table, json, jsonl, ktap) write each result as it ends so
// a run killed half-way keeps what it finished.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "environment.h"
#include "result.h"

namespace aioh {

inline constexpr const char* kResultSchema = "aioharness-result/1";

struct RunInfo {
  std::string started, finished, host;
  std::vector<std::string> argv;
  size_t planned = 0;
  nlohmann::json targets = nlohmann::json::array();  // each target's kind and probed geometry
};

class Writer {
 public:
  virtual ~Writer() = default;
  virtual void begin(const RunInfo&, const Environment&) {}
  virtual void result(const Result& r) = 0;
  virtual void end(const RunInfo&, const Summary&) {}
};

inline constexpr std::string_view kFormats[] = {"table", "json", "jsonl", "junit", "ktap"};

// nullptr for an unknown format. `out` stays owned by the caller.
std::unique_ptr<Writer> make_writer(std::string_view format, FILE* out, bool color);
// quiet (-q): a line only for a result that is not good (pass, xfail).
std::unique_ptr<Writer> make_table_writer(FILE* out, bool color, bool quiet = false);
std::unique_ptr<Writer> make_json_writer(FILE* out, bool lines);
std::unique_ptr<Writer> make_junit_writer(FILE* out);
std::unique_ptr<Writer> make_ktap_writer(FILE* out);

nlohmann::json environment_to_json(const Environment& env);
// j as JSON text with invalid UTF-8 in any string replaced by U+FFFD:
// nlohmann's default dump throws on it, which would abort the run.
std::string json_dump(const nlohmann::json& j, int indent = -1);
nlohmann::json run_to_json(const RunInfo& run);

}  // namespace aioh
