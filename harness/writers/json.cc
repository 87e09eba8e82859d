// JSON document and JSON-lines writers (schema: reports/schema/). The
// document is streamed: header and environment first, each result as it ends,
// the summary last; a killed run leaves every finished result on disk. Every
// string is dumped with invalid UTF-8 replaced by U+FFFD (an argv element or a
// reason may hold any byte), so no input can abort a run half-written.
#include <fmt/format.h>

#include "writer.h"

namespace aioh {
namespace {

class JsonWriter : public Writer {
 public:
  JsonWriter(FILE* out, bool lines) : out_(out), lines_(lines) {}

  void begin(const RunInfo& run, const Environment& env) override {
    auto envj = environment_to_json(env);
    envj["targets"] = run.targets;
    nlohmann::json tool = {{"name", "aioharness"}, {"version", AIOH_VERSION}};
    if (lines_) {
      emit({{"type", "environment"}, {"schema", kResultSchema}, {"tool", tool}, {"run", run_to_json(run)},
            {"environment", envj}});
      return;
    }
    fmt::print(out_, "{{\n\"schema\": \"{}\",\n\"tool\": {},\n\"run\": {},\n\"environment\": {},\n\"results\": [",
               kResultSchema, json_dump(tool), json_dump(run_to_json(run)), json_dump(envj));
    fflush(out_);
  }

  void result(const Result& r) override {
    if (lines_) {
      auto j = to_json(r);
      j["type"] = "result";
      emit(j);
      return;
    }
    fmt::print(out_, "{}\n{}", first_ ? "" : ",", json_dump(to_json(r)));
    first_ = false;
    fflush(out_);
  }

  void end(const RunInfo& run, const Summary& s) override {
    if (lines_) {
      emit({{"type", "summary"}, {"finished", run.finished}, {"summary", to_json(s)}});
      return;
    }
    fmt::print(out_, "\n],\n\"finished\": {},\n\"summary\": {}\n}}\n", json_dump(run.finished), json_dump(to_json(s)));
    fflush(out_);
  }

 private:
  void emit(const nlohmann::json& j) {
    fmt::print(out_, "{}\n", json_dump(j));
    fflush(out_);
  }
  FILE* out_;
  bool lines_;
  bool first_ = true;
};

}  // namespace

std::unique_ptr<Writer> make_json_writer(FILE* out, bool lines) {
  return std::make_unique<JsonWriter>(out, lines);
}

}  // namespace aioh
