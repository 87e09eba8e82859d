// Case rows built in a test, for the runner, scheduler and kernel-log tests:
// each row on one interface with its expectation, kept at stable addresses
// (a CaseRun points at its row) beside the runs made from them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "case_table.h"

namespace aioh::test {

struct CaseRows {
  std::vector<std::unique_ptr<CaseRow>> rows;
  std::vector<CaseRun> runs;

  CaseRow& add(const std::string& area, const std::string& id, const std::string& scenario,
               std::map<std::string, Param> params = {}, const std::string& expect = "0@submit",
               const std::string& iface = "posix-aio") {
    auto r = std::make_unique<CaseRow>();
    r->id = id;
    r->area = area;
    r->scenario = scenario;
    r->source = "test";
    r->interfaces = {iface};
    r->params = std::move(params);
    std::string err;
    r->expect["all"] = *parse_expectation(expect, &err);
    rows.push_back(std::move(r));
    runs.push_back(CaseRun{rows.back().get(), iface, area + "." + id + "@" + iface});
    return *rows.back();
  }
};

}  // namespace aioh::test
