// Writer selection and the JSON forms shared by the machine-readable writers.
#include "writer.h"

namespace aioh {

std::unique_ptr<Writer> make_writer(std::string_view format, FILE* out, bool color) {
  if (format == "table") return make_table_writer(out, color);
  if (format == "json") return make_json_writer(out, false);
  if (format == "jsonl") return make_json_writer(out, true);
  if (format == "junit") return make_junit_writer(out);
  if (format == "ktap") return make_ktap_writer(out);
  return nullptr;
}

nlohmann::json environment_to_json(const Environment& env) {
  using nlohmann::json;
  json facts = json::object();
  for (auto& [k, v] : env.facts) std::visit([&](auto&& x) { facts[k] = x; }, v);
  json ifaces = json::object();
  for (auto& [k, v] : env.interfaces) ifaces[k] = {{"available", v.available}, {"reason", v.reason}};
  auto info = [&](const std::string& k) { auto it = env.info.find(k); return it == env.info.end() ? std::string() : it->second; };
  // probe_libs.cc: the version the loaded library reports, else its package's, else its file name's.
  auto library = [&](const std::string& lib) {
    json l = {{"version", info(lib + "_version")}, {"path", info(lib + "_path")}, {"source", info(lib + "_version_source")}};
    if (!info(lib + "_package").empty()) l["package"] = info(lib + "_package");
    return l;
  };
  json j = {
      {"kernel_release", info("kernel_release")},
      {"kernel_version", info("kernel_version")},
      {"machine", info("machine")},
      {"distro", info("distro")},
      {"libraries",
       {{"glibc", {{"version", info("glibc_version")}, {"source", "gnu_get_libc_version()"}}},
        {"liburing", library("liburing")},
        {"libaio", library("libaio")}}},
      {"facts", facts},
      {"interfaces", ifaces},
      {"scratch", {{"path", env.scratch_dir}, {"fs", env.text("scratch_fs")}}},
      {"info", env.info},
      {"vm", nullptr}};
  return j;
}

std::string json_dump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json run_to_json(const RunInfo& run) {
  return {{"started", run.started}, {"finished", run.finished.empty() ? nlohmann::json() : nlohmann::json(run.finished)},
          {"argv", run.argv}, {"host", run.host}, {"planned", run.planned}};
}

}  // namespace aioh
