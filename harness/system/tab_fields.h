// The tab-separated records of the state files (journals, settings
// originals, lock files): every field of a line, empty ones included, so a
// line always has at least one field.
#pragma once

#include <string>
#include <vector>

namespace aioh::system {

inline std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t tab = line.find('\t', start);
    parts.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return parts;
    start = tab + 1;
  }
}

}  // namespace aioh::system
