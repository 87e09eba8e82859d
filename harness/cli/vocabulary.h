// `harness --vocabulary`: the vocabulary (vocabulary.h) plus the lists the
// registries and the writers hold — phases, channels, interfaces, output
// formats, fault layers — as one JSON document for the Python side. It lives
// in cli/, above everything it gathers, so the vocabulary itself depends on
// nothing (scripts/include-graph).
#pragma once

#include <nlohmann/json.hpp>

namespace aioh::cli {

nlohmann::json vocabulary_json();

}  // namespace aioh::cli
