// Parsing and comparing expectations (see expectation.h).
#include "expectation.h"

#include <cctype>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh {
namespace {

// Symbolic values: glibc's aio_cancel answers, and the signal that killed a
// call's process where a scenario observes a death (a libaio read of a garbage
// context, a glibc assertion, a seccomp SIGSYS, RLIMIT_FSIZE's SIGXFSZ).
constexpr std::string_view kSymbols[] = {"AIO_CANCELED", "AIO_NOTCANCELED", "AIO_ALLDONE",
                                         "SIGSEGV", "SIGBUS", "SIGABRT", "SIGSYS", "SIGXFSZ",
                                         "SIGKILL", "SIGILL", "SIGFPE"};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return std::string(s.substr(b, e - b));
}

bool is_integer(std::string_view t) {
  size_t i = (!t.empty() && t[0] == '-') ? 1 : 0;
  if (i == t.size()) return false;
  for (; i < t.size(); i++)
    if (!isdigit(static_cast<unsigned char>(t[i]))) return false;
  return true;
}

// An observed value is printed by std::to_string: an integer token that is
// not written that way (04096, -0, past 64 bits) could never match.
bool canonical_integer(const std::string& t, std::string* error) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) {
    *error = fmt::format("'{}' is outside the 64-bit values an interface can return", t);
    return false;
  }
  if (std::to_string(v) != t) {
    *error = fmt::format("'{}' would never match: a value is written as {}", t, v);
    return false;
  }
  return true;
}

bool valid_token(const std::string& t, std::string* error) {
  if (is_integer(t)) return canonical_integer(t, error);
  for (auto s : kSymbols)
    if (t == s) return true;
  if (!t.empty() && t[0] == 'E') {
    if (errno_from_name(t)) return true;
    *error = fmt::format("unknown errno name '{}'", t);
    return false;
  }
  *error = fmt::format("'{}' is not an errno name, an integer or a known symbol", t);
  return false;
}

}  // namespace

bool Expectation::has_alternatives() const {
  for (auto& s : steps)
    if (s.tokens.size() > 1) return true;
  return false;
}

std::optional<Expectation> parse_expectation(std::string_view text, std::string* error) {
  Expectation e;
  e.text = trim(text);
  if (e.text.empty()) {
    *error = "empty expectation";
    return std::nullopt;
  }
  size_t start = 0;
  while (start <= e.text.size()) {
    size_t comma = e.text.find(',', start);
    std::string step = trim(std::string_view(e.text).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    size_t at = step.rfind('@');
    if (at == std::string::npos) {
      *error = fmt::format("'{}' lacks '@PHASE'", step);
      return std::nullopt;
    }
    ExpectedStep s;
    auto phase = phase_from_name(trim(std::string_view(step).substr(at + 1)));
    if (!phase) {
      *error = fmt::format("unknown phase in '{}' (open setup submit wait completion cancel teardown)", step);
      return std::nullopt;
    }
    s.phase = *phase;
    std::string toks = step.substr(0, at);
    size_t ts = 0;
    while (ts <= toks.size()) {
      size_t bar = toks.find('|', ts);
      std::string t = trim(std::string_view(toks).substr(ts, bar == std::string::npos ? std::string::npos : bar - ts));
      if (!valid_token(t, error)) return std::nullopt;
      s.tokens.push_back(t);
      if (bar == std::string::npos) break;
      ts = bar + 1;
    }
    e.steps.push_back(std::move(s));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return e;
}

std::string observed_text(const std::vector<ObservedStep>& seen) {
  std::string out;
  for (auto& s : seen) {
    if (!out.empty()) out += ", ";
    out += s.token + "@" + std::string(phase_name(s.phase));
  }
  return out.empty() ? "(nothing)" : out;
}

std::string compare(const Expectation& e, const std::vector<ObservedStep>& seen) {
  for (size_t i = 0; i < e.steps.size() || i < seen.size(); i++) {
    if (i >= seen.size())
      return fmt::format("step {}: expected {}@{}, observed nothing more", i + 1,
                         fmt::join(e.steps[i].tokens, "|"), phase_name(e.steps[i].phase));
    if (i >= e.steps.size())
      return fmt::format("step {}: observed {}@{} beyond the expectation", i + 1,
                         seen[i].token, phase_name(seen[i].phase));
    const auto& want = e.steps[i];
    bool tok = false;
    for (auto& t : want.tokens) tok |= t == seen[i].token;
    if (!tok || want.phase != seen[i].phase)
      return fmt::format("step {}: expected {}@{}, observed {}@{}", i + 1,
                         fmt::join(want.tokens, "|"), phase_name(want.phase),
                         seen[i].token, phase_name(seen[i].phase));
  }
  return "";
}

}  // namespace aioh
