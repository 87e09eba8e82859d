// Loading and validating case tables (see case_table.h).
#include "case_table.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "backend.h"
#include "targets/target.h"

namespace aioh {
namespace {

[[noreturn]] void fail_at(const std::string& file, const toml::node& n, const std::string& msg) {
  throw LoadError(fmt::format("{}:{}: {}", file, n.source().begin.line, msg));
}

bool known_interface(const std::string& s) {
  return std::find(std::begin(kInterfaces), std::end(kInterfaces), s) != std::end(kInterfaces);
}

Predicate parse_predicate(const std::string& file, const toml::node& n, const std::string& text) {
  static const std::regex re(R"(^\s*(!?)\s*([A-Za-z0-9_.\-]+)\s*(?:(==|!=|<=|>=|<|>)\s*([A-Za-z0-9_.\-]+))?\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) fail_at(file, n, fmt::format("malformed predicate '{}'", text));
  Predicate p;
  p.text = text;
  p.fact = m[2];
  if (!is_known_fact(p.fact) && !is_target_fact(p.fact)) fail_at(file, n, fmt::format("unknown fact '{}'", p.fact));
  if (m[1].length() && m[3].length()) fail_at(file, n, fmt::format("'!' with a comparison in '{}'", text));
  p.op = m[1].length() ? "!" : std::string(m[3]);
  p.value = m[4];
  return p;
}

Expectation parse_exp(const std::string& file, const toml::node& n) {
  auto s = n.value<std::string>();
  if (!s) fail_at(file, n, "an expectation must be a string like \"EBADF@submit\"");
  std::string err;
  auto e = parse_expectation(*s, &err);
  if (!e) fail_at(file, n, err);
  return *e;
}

ExpectMap parse_expect_map(const std::string& file, const toml::node& n) {
  ExpectMap m;
  if (n.is_string()) {
    m["all"] = parse_exp(file, n);
  } else if (auto* t = n.as_table()) {
    for (auto& [k, v] : *t) {
      std::string key(k.str());
      if (key != "all" && !known_interface(key))
        fail_at(file, v, fmt::format("unknown interface '{}' in expect", key));
      m[key] = parse_exp(file, v);
    }
  } else {
    fail_at(file, n, "expect must be a string or a table of interface = string");
  }
  return m;
}

std::vector<std::string> string_list(const std::string& file, const toml::node& n, const char* what) {
  std::vector<std::string> out;
  if (auto s = n.value<std::string>()) {
    out.push_back(*s);
    return out;
  }
  auto* a = n.as_array();
  if (!a) fail_at(file, n, fmt::format("{} must be a string or a list of strings", what));
  for (auto& e : *a) {
    auto s = e.value<std::string>();
    if (!s) fail_at(file, e, fmt::format("{} must hold strings", what));
    out.push_back(*s);
  }
  return out;
}

std::string req_string(const std::string& file, const toml::table& t, const toml::node& at, const char* key) {
  auto* n = t.get(key);
  if (!n) fail_at(file, at, fmt::format("missing '{}'", key));
  auto s = n->value<std::string>();
  if (!s || s->empty()) fail_at(file, *n, fmt::format("'{}' must be a non-empty string", key));
  return *s;
}

CaseRow parse_row(const std::string& file, const toml::table& t, const std::string& file_area) {
  static const std::set<std::string> kKeys = {
      "id", "area", "scenario", "interfaces", "params", "expect", "when", "requires",
      "why", "doc", "xfail", "timeout", "source", "targets", "fault"};
  for (auto& [k, v] : t)
    if (!kKeys.count(std::string(k.str())))
      fail_at(file, v, fmt::format("unknown key '{}'", k.str()));

  CaseRow r;
  r.file = file;
  r.line = static_cast<int>(t.source().begin.line);
  r.id = req_string(file, t, t, "id");
  static const std::regex id_re("^[a-z0-9][a-z0-9-]*$");
  if (!std::regex_match(r.id, id_re)) fail_at(file, *t.get("id"), fmt::format("id '{}' must match [a-z0-9-]+", r.id));
  if (t.get("area")) r.area = req_string(file, t, t, "area");
  else r.area = file_area;
  if (r.area.empty()) fail_at(file, t, "no 'area' for this row or the file");
  r.scenario = req_string(file, t, t, "scenario");
  if (!find_scenario(r.scenario)) fail_at(file, *t.get("scenario"), fmt::format("unknown scenario '{}'", r.scenario));
  if (!t.get("source")) fail_at(file, t, fmt::format("row '{}' has no 'source' for its expectation", r.id));
  r.source = req_string(file, t, t, "source");

  auto* ifs = t.get("interfaces");
  if (!ifs) fail_at(file, t, "missing 'interfaces'");
  for (auto& s : string_list(file, *ifs, "interfaces")) {
    if (s == "all") {
      for (auto i : kInterfaces) r.interfaces.emplace_back(i);
    } else if (known_interface(s)) {
      r.interfaces.push_back(s);
    } else {
      fail_at(file, *ifs, fmt::format("unknown interface '{}'", s));
    }
  }

  if (auto* p = t.get("params")) {
    auto* pt = p->as_table();
    if (!pt) fail_at(file, *p, "params must be a table");
    for (auto& [k, v] : *pt) {
      if (auto i = v.value_exact<int64_t>()) r.params[std::string(k.str())] = *i;
      else if (auto b = v.value_exact<bool>()) r.params[std::string(k.str())] = *b;
      else if (auto s = v.value_exact<std::string>()) r.params[std::string(k.str())] = *s;
      else fail_at(file, v, fmt::format("param '{}' must be an integer, boolean or string", k.str()));
    }
    // A declared scenario takes only its declared parameters, each of its type and range.
    if (auto* decl = find_scenario_decl(r.scenario); decl && decl->declared) {
      for (auto& [k, v] : *pt) {
        std::string key(k.str());
        auto* spec = decl->find_param(key);
        if (!spec) {
          std::string known;
          for (auto& q : decl->params) known += (known.empty() ? "" : ", ") + q.name;
          fail_at(file, v, fmt::format("scenario '{}' has no parameter '{}' (it takes: {})", r.scenario, key,
                                       known.empty() ? "none" : known));
        }
        if (auto why = check_param(*spec, r.params[key]); !why.empty())
          fail_at(file, v, fmt::format("param '{}' of scenario '{}': {}", key, r.scenario, why));
      }
    }
  }

  auto* ex = t.get("expect");
  if (!ex) fail_at(file, t, fmt::format("row '{}' has no 'expect'", r.id));
  r.expect = parse_expect_map(file, *ex);
  for (auto& i : r.interfaces)
    if (!r.expect.count("all") && !r.expect.count(i))
      fail_at(file, *ex, fmt::format("no expectation for interface '{}'", i));

  if (auto* w = t.get("when")) {
    auto* arr = w->as_array();
    if (!arr) fail_at(file, *w, "when must be an array of { if = ..., expect = ... }");
    for (auto& e : *arr) {
      auto* wt = e.as_table();
      if (!wt || !wt->get("if") || !wt->get("expect") || wt->size() != 2)
        fail_at(file, e, "each when entry needs exactly 'if' and 'expect'");
      auto cond = wt->get("if")->value<std::string>();
      if (!cond) fail_at(file, *wt->get("if"), "'if' must be a string");
      r.when.push_back({parse_predicate(file, *wt->get("if"), *cond), parse_expect_map(file, *wt->get("expect"))});
    }
  }
  if (auto* q = t.get("requires"))
    for (auto& s : string_list(file, *q, "requires")) {
      std::string f = s[0] == '!' ? s.substr(1) : s;
      if (!is_known_fact(f) && !is_target_fact(f)) fail_at(file, *q, fmt::format("unknown fact '{}'", f));
      r.requires_.push_back(s);
    }
  if (auto* tg = t.get("targets")) {
    r.targets = string_list(file, *tg, "targets");
    if (r.targets.empty()) fail_at(file, *tg, "targets must name at least one target");
  }
  if (t.get("why")) r.why = req_string(file, t, t, "why");
  if (t.get("doc")) r.doc = req_string(file, t, t, "doc");
  bool alternatives = false;
  for (auto& [_, e] : r.expect) alternatives |= e.has_alternatives();
  for (auto& w : r.when)
    for (auto& [_, e] : w.expect) alternatives |= e.has_alternatives();
  if (alternatives && r.why.empty())
    fail_at(file, *ex, "an expectation with alternatives needs a 'why'");
  if (auto* x = t.get("xfail")) {
    auto* xt = x->as_table();
    if (!xt) fail_at(file, *x, "xfail must be a table { reason, ref, interfaces }");
    XFail xf;
    for (auto& [k, v] : *xt) {
      std::string key(k.str());
      if (key == "reason") xf.reason = v.value<std::string>().value_or("");
      else if (key == "ref") xf.ref = v.value<std::string>().value_or("");
      else if (key == "interfaces") xf.interfaces = string_list(file, v, "xfail.interfaces");
      else if (key == "if") {
        auto cond = v.value<std::string>();
        if (!cond) fail_at(file, v, "xfail 'if' must be a string");
        xf.cond = parse_predicate(file, v, *cond);
      }
      else fail_at(file, v, fmt::format("unknown key '{}' in xfail", key));
    }
    if (xf.reason.empty() || xf.ref.empty()) fail_at(file, *x, "xfail needs 'reason' and 'ref'");
    r.xfail = xf;
  }
  if (auto* fn = t.get("fault")) {
    auto* ft = fn->as_table();
    if (!ft) fail_at(file, *fn, "fault must be a table { layer, target, effect, trigger }");
    faults::FaultSpec f;
    for (auto& [k, v] : *ft) {
      std::string key(k.str());
      auto s = v.value<std::string>();
      if (!s) fail_at(file, v, fmt::format("fault.{} must be a string", key));
      if (key == "layer") f.layer = *s;
      else if (key == "target") f.target = *s;
      else if (key == "effect") f.effect = *s;
      else if (key == "trigger") f.trigger = *s;
      else if (key == "range") f.range = *s;
      else fail_at(file, v, fmt::format("unknown key '{}' in fault", key));
    }
    if (auto err = faults::validate(f); !err.empty()) fail_at(file, *fn, err);
    r.fault = f;
  }
  if (auto* to = t.get("timeout")) {
    auto v = to->value<double>();
    if (!v || *v <= 0) fail_at(file, *to, "timeout must be a positive number of seconds");
    r.timeout_s = *v;
  }
  return r;
}

bool compare_num(int64_t a, const std::string& op, int64_t b) {
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

}  // namespace

bool Predicate::eval(const Environment& env) const {
  if (op.empty()) return env.flag(fact);
  if (op == "!") return !env.flag(fact);
  auto n = env.number(fact);
  char* end = nullptr;
  long long want = strtoll(value.c_str(), &end, 0);
  bool numeric = !value.empty() && end && *end == '\0';
  if (n && numeric) return compare_num(*n, op, want);
  if (op == "==") return env.text(fact) == value;
  if (op == "!=") return env.text(fact) != value;
  return false;  // an ordering on an absent or non-numeric fact
}

const Expectation* CaseRow::expectation_for(const std::string& iface, const Environment& env) const {
  const ExpectMap* m = &expect;
  for (auto& w : when)
    if (w.pred.eval(env) && (w.expect.count(iface) || w.expect.count("all"))) {
      m = &w.expect;
      break;
    }
  auto it = m->find(iface);
  if (it == m->end()) it = m->find("all");
  return it == m->end() ? nullptr : &it->second;
}

bool CaseRow::xfail_applies(const std::string& iface) const {
  if (!xfail) return false;
  return xfail->interfaces.empty() ||
         std::find(xfail->interfaces.begin(), xfail->interfaces.end(), iface) != xfail->interfaces.end();
}

std::vector<CaseRow> load_case_file(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw LoadError(fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
  }
  std::string area;
  for (auto& [k, v] : doc) {
    std::string key(k.str());
    if (key == "area") {
      auto s = v.value<std::string>();
      if (!s) fail_at(path, v, "area must be a string");
      area = *s;
    } else if (key != "case") {
      fail_at(path, v, fmt::format("unknown top-level key '{}' (expected 'area' and [[case]] rows)", key));
    }
  }
  std::vector<CaseRow> rows;
  auto* cases = doc.get("case");
  if (!cases) return rows;
  auto* arr = cases->as_array();
  if (!arr) fail_at(path, *cases, "'case' must be an array of tables ([[case]])");
  for (auto& e : *arr) {
    auto* t = e.as_table();
    if (!t) fail_at(path, e, "each case must be a table");
    rows.push_back(parse_row(path, *t, area));
  }
  return rows;
}

std::vector<CaseRow> load_case_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw LoadError(fmt::format("{}: not a directory of case tables", dir));
  std::vector<std::string> files;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".toml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<CaseRow> all;
  std::map<std::string, std::string> seen;
  for (auto& f : files)
    for (auto& r : load_case_file(f)) {
      auto where = fmt::format("{}:{}", r.file, r.line);
      auto [it, fresh] = seen.emplace(r.case_id(), where);
      if (!fresh) throw LoadError(fmt::format("{}: duplicate id '{}' (first at {})", where, r.case_id(), it->second));
      all.push_back(std::move(r));
    }
  return all;
}

std::vector<CaseRun> expand(const std::vector<CaseRow>& rows, const std::vector<std::string>& interfaces) {
  return expand(rows, interfaces, default_targets());
}

std::vector<CaseRun> expand(const std::vector<CaseRow>& rows, const std::vector<std::string>& interfaces,
                            const std::vector<Target>& targets) {
  std::vector<CaseRun> out;
  for (auto& r : rows)
    for (auto& i : r.interfaces) {
      if (std::find(interfaces.begin(), interfaces.end(), i) == interfaces.end()) continue;
      if (r.targets.empty()) {
        out.push_back({&r, i, r.case_id() + "@" + i});
        continue;
      }
      for (auto& t : targets)
        if (std::any_of(r.targets.begin(), r.targets.end(), [&](auto& s) { return target_selected(s, t); }))
          out.push_back({&r, i, r.case_id() + "@" + i + "/" + t.name});
    }
  return out;
}

}  // namespace aioh
