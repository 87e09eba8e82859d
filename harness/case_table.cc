// Loading and validating case tables (see case_table.h).
#include "case_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "backend.h"
#include "errno_names.h"
#include "targets/target.h"

namespace aioh {
namespace {

[[noreturn]] void fail_at(const std::string& file, const toml::node& n, const std::string& msg) {
  throw LoadError(fmt::format("{}:{}: {}", file, n.source().begin.line, msg));
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
  // An ordering is numeric: with a word it could never hold.
  if (p.op == "<" || p.op == "<=" || p.op == ">" || p.op == ">=") {
    errno = 0;
    char* end = nullptr;
    strtoll(p.value.c_str(), &end, 0);
    if (p.value.empty() || *end != '\0' || errno == ERANGE)
      fail_at(file, n, fmt::format("'{}' orders '{}' against '{}', which is not an integer", text, p.fact, p.value));
  }
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
      if (key != "all" && !is_interface(key))
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

// The row being parsed and where it came from; one function per key below.
struct RowCtx {
  const std::string& file;
  const toml::table& t;
  CaseRow& r;
  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const { fail_at(file, n, msg); }
  const toml::node& at(const char* key) const { return t.get(key) ? *t.get(key) : t; }
};

void check_keys(const RowCtx& c) {
  static const std::set<std::string> kKeys = {
      "id", "area", "scenario", "interfaces", "params", "expect", "when", "requires",
      "why", "doc", "xfail", "timeout", "source", "targets", "fault", "exclusive"};
  for (auto& [k, v] : c.t)
    if (!kKeys.count(std::string(k.str()))) c.fail(v, fmt::format("unknown key '{}'", k.str()));
}

void parse_id(const RowCtx& c) {
  c.r.id = req_string(c.file, c.t, c.t, "id");
  static const std::regex id_re("^[a-z0-9][a-z0-9-]*$");
  if (!std::regex_match(c.r.id, id_re)) c.fail(c.at("id"), fmt::format("id '{}' must match [a-z0-9-]+", c.r.id));
}

void parse_area(const RowCtx& c, const std::string& file_area) {
  c.r.area = c.t.get("area") ? req_string(c.file, c.t, c.t, "area") : file_area;
  if (c.r.area.empty()) c.fail(c.t, "no 'area' for this row or the file");
}

void parse_scenario(const RowCtx& c) {
  c.r.scenario = req_string(c.file, c.t, c.t, "scenario");
  if (!find_scenario(c.r.scenario)) c.fail(c.at("scenario"), fmt::format("unknown scenario '{}'", c.r.scenario));
}

void parse_source(const RowCtx& c) {
  if (!c.t.get("source")) c.fail(c.t, fmt::format("row '{}' has no 'source' for its expectation", c.r.id));
  c.r.source = req_string(c.file, c.t, c.t, "source");
}

// Each interface once: "all" and a name it includes, or a name twice, would
// give two results one id, so both are refused.
void parse_interfaces(const RowCtx& c) {
  auto* ifs = c.t.get("interfaces");
  if (!ifs) c.fail(c.t, "missing 'interfaces'");
  bool all = false;
  auto add = [&](const std::string& i) {
    if (std::find(c.r.interfaces.begin(), c.r.interfaces.end(), i) != c.r.interfaces.end())
      c.fail(*ifs, fmt::format("interface '{}' named twice{}", i, all ? " (\"all\" includes every interface)" : ""));
    c.r.interfaces.push_back(i);
  };
  for (auto& s : string_list(c.file, *ifs, "interfaces")) {
    if (s == "all") {
      all = true;
      for (auto& i : interface_names()) add(i);
    } else if (is_interface(s)) {
      add(s);
    } else {
      c.fail(*ifs, fmt::format("unknown interface '{}'", s));
    }
  }
  if (c.r.interfaces.empty()) c.fail(*ifs, "interfaces must name at least one interface");
}

// Every parameter declared by the scenario, of its type and range; every
// required one present.
void parse_params(const RowCtx& c) {
  const ScenarioDecl* decl = find_scenario_decl(c.r.scenario);
  auto* p = c.t.get("params");
  if (p) {
    auto* pt = p->as_table();
    if (!pt) c.fail(*p, "params must be a table");
    for (auto& [k, v] : *pt) {
      std::string key(k.str());
      if (auto i = v.value_exact<int64_t>()) c.r.params[key] = *i;
      else if (auto b = v.value_exact<bool>()) c.r.params[key] = *b;
      else if (auto s = v.value_exact<std::string>()) c.r.params[key] = *s;
      else c.fail(v, fmt::format("param '{}' must be an integer, boolean or string", key));
      auto* spec = decl->find_param(key);
      if (!spec) {
        std::string known;
        for (auto& q : decl->params) known += (known.empty() ? "" : ", ") + q.name;
        c.fail(v, fmt::format("scenario '{}' has no parameter '{}' (it takes: {})", c.r.scenario, key,
                              known.empty() ? "none" : known));
      }
      if (auto why = check_param(*spec, c.r.params[key]); !why.empty())
        c.fail(v, fmt::format("param '{}' of scenario '{}': {}", key, c.r.scenario, why));
    }
  }
  for (auto& spec : decl->params)
    if (spec.required && !c.r.params.count(spec.name))
      c.fail(p ? *p : c.t, fmt::format("scenario '{}' needs parameter '{}' ({})", c.r.scenario, spec.name, spec.help));
}

// A negative value is never observed on an interface whose negative returns
// are errnos, observed as errno names (all but posix-aio: its adapter says so
// in its registration, backend.h negative_values).
void check_values_observable(const RowCtx& c, const toml::node& n, const ExpectMap& m) {
  for (auto& [iface, e] : m)
    for (auto& i : c.r.interfaces) {
      if (iface != "all" && iface != i) continue;
      if (const BackendEntry* b = find_backend(i); b && b->negative_values) continue;
      for (auto& step : e.steps)
        for (auto& tok : step.tokens)
          if (tok.size() > 1 && tok[0] == '-')
            c.fail(n, fmt::format("'{}' can never be observed on {}: its negative returns are errno names", tok, i));
    }
}

void parse_expect(const RowCtx& c) {
  auto* ex = c.t.get("expect");
  if (!ex) c.fail(c.t, fmt::format("row '{}' has no 'expect'", c.r.id));
  c.r.expect = parse_expect_map(c.file, *ex);
  for (auto& i : c.r.interfaces)
    if (!c.r.expect.count("all") && !c.r.expect.count(i))
      c.fail(*ex, fmt::format("no expectation for interface '{}'", i));
  for (auto& [key, _] : c.r.expect)
    if (key != "all" && std::find(c.r.interfaces.begin(), c.r.interfaces.end(), key) == c.r.interfaces.end())
      c.fail(*ex, fmt::format("an expectation for interface '{}', which the row does not run on", key));
  check_values_observable(c, *ex, c.r.expect);
}

void parse_when(const RowCtx& c) {
  auto* w = c.t.get("when");
  if (!w) return;
  auto* arr = w->as_array();
  if (!arr) c.fail(*w, "when must be an array of { if = ..., expect = ... }");
  for (auto& e : *arr) {
    auto* wt = e.as_table();
    if (!wt || !wt->get("if") || !wt->get("expect") || wt->size() != 2)
      c.fail(e, "each when entry needs exactly 'if' and 'expect'");
    auto cond = wt->get("if")->value<std::string>();
    if (!cond) c.fail(*wt->get("if"), "'if' must be a string");
    WhenClause clause{parse_predicate(c.file, *wt->get("if"), *cond), parse_expect_map(c.file, *wt->get("expect"))};
    check_values_observable(c, *wt->get("expect"), clause.expect);
    c.r.when.push_back(std::move(clause));
  }
}

void parse_requires(const RowCtx& c) {
  auto* q = c.t.get("requires");
  if (!q) return;
  for (auto& s : string_list(c.file, *q, "requires")) {
    std::string f = !s.empty() && s[0] == '!' ? s.substr(1) : s;
    if (!is_known_fact(f) && !is_target_fact(f)) c.fail(*q, fmt::format("unknown fact '{}'", f));
    c.r.requires_.push_back(s);
  }
}

// A selector must match a target some run can have: a default target's
// name, kind or filesystem, --target's "dir", --device's "device", or a group.
bool known_target_selector(const std::string& sel) {
  static const std::set<std::string> known = [] {
    std::set<std::string> k = {"all", "files", "blockdev", "dir", "device"};
    for (auto& t : default_targets()) {
      k.insert(t.name);
      k.insert(t.kind);
      if (!t.fs.empty()) k.insert(t.fs);
    }
    return k;
  }();
  return known.count(sel) != 0;
}

void parse_targets(const RowCtx& c) {
  auto* tg = c.t.get("targets");
  if (!tg) return;
  c.r.targets = string_list(c.file, *tg, "targets");
  if (c.r.targets.empty()) c.fail(*tg, "targets must name at least one target");
  for (auto& s : c.r.targets)
    if (!known_target_selector(s))
      c.fail(*tg, fmt::format("unknown target '{}' (a target name, kind or filesystem, or all, files, blockdev)", s));
}

void parse_texts(const RowCtx& c) {
  if (c.t.get("why")) c.r.why = req_string(c.file, c.t, c.t, "why");
  if (c.t.get("doc")) c.r.doc = req_string(c.file, c.t, c.t, "doc");
  bool alternatives = false;
  for (auto& [_, e] : c.r.expect) alternatives |= e.has_alternatives();
  for (auto& w : c.r.when)
    for (auto& [_, e] : w.expect) alternatives |= e.has_alternatives();
  if (alternatives && c.r.why.empty()) c.fail(c.at("expect"), "an expectation with alternatives needs a 'why'");
}

void parse_xfail(const RowCtx& c) {
  auto* x = c.t.get("xfail");
  if (!x) return;
  auto* xt = x->as_table();
  if (!xt) c.fail(*x, "xfail must be a table { reason, ref, interfaces }");
  XFail xf;
  for (auto& [k, v] : *xt) {
    std::string key(k.str());
    if (key == "reason" || key == "ref") {
      auto s = v.value<std::string>();
      if (!s) c.fail(v, fmt::format("xfail.{} must be a string", key));
      (key == "reason" ? xf.reason : xf.ref) = *s;
    } else if (key == "interfaces") {
      xf.interfaces = string_list(c.file, v, "xfail.interfaces");
      for (auto& i : xf.interfaces) {
        if (!is_interface(i)) c.fail(v, fmt::format("unknown interface '{}' in xfail.interfaces", i));
        if (std::find(c.r.interfaces.begin(), c.r.interfaces.end(), i) == c.r.interfaces.end())
          c.fail(v, fmt::format("xfail.interfaces names '{}', which the row does not run on", i));
      }
    } else if (key == "if") {
      auto cond = v.value<std::string>();
      if (!cond) c.fail(v, "xfail 'if' must be a string");
      xf.cond = parse_predicate(c.file, v, *cond);
    } else {
      c.fail(v, fmt::format("unknown key '{}' in xfail", key));
    }
  }
  if (xf.reason.empty() || xf.ref.empty()) c.fail(*x, "xfail needs 'reason' and 'ref'");
  c.r.xfail = xf;
}

// fault.fails = { if = PRED, then = NAME, else = NAME }: only on a syscall
// fault naming two alternatives, each of them once.
void parse_fault_fails(const RowCtx& c, const toml::node& n, const faults::FaultSpec& f) {
  auto* t = n.as_table();
  if (!t) c.fail(n, "fault.fails must be a table { if, then, else }");
  FaultFails ff;
  for (auto& [k, v] : *t) {
    std::string key(k.str());
    auto s = v.value<std::string>();
    if (!s) c.fail(v, fmt::format("fault.fails.{} must be a string", key));
    if (key == "if") ff.pred = parse_predicate(c.file, v, *s);
    else if (key == "then") ff.then_name = *s;
    else if (key == "else") ff.else_name = *s;
    else c.fail(v, fmt::format("unknown key '{}' in fault.fails", key));
  }
  for (auto key : {"if", "then", "else"})
    if (!t->get(key)) c.fail(n, fmt::format("fault.fails needs '{}' (if, then and else)", key));
  const std::string alt_a = f.target.substr(0, f.target.find('|'));
  const std::string alt_b = f.target.find('|') == std::string::npos ? "" : f.target.substr(f.target.find('|') + 1);
  if (f.layer != "syscall" || alt_b.empty() || alt_b.find('|') != std::string::npos)
    c.fail(n, "fault.fails needs a syscall fault whose target names two alternatives (\"a|b\")");
  bool both = (ff.then_name == alt_a && ff.else_name == alt_b) || (ff.then_name == alt_b && ff.else_name == alt_a);
  if (!both) c.fail(n, fmt::format("fault.fails: then and else must be the two alternatives of '{}', one each", f.target));
  c.r.fault_fails = ff;
}

// Every key a fault needs is written out: a missing trigger is refused, not
// taken as "always".
void parse_fault(const RowCtx& c) {
  auto* fn = c.t.get("fault");
  if (!fn) return;
  auto* ft = fn->as_table();
  if (!ft) c.fail(*fn, "fault must be a table { layer, target, effect, trigger }");
  faults::FaultSpec f;
  const toml::node* fails = nullptr;
  for (auto& [k, v] : *ft) {
    std::string key(k.str());
    if (key == "fails") {
      fails = &v;
      continue;
    }
    auto s = v.value<std::string>();
    if (!s) c.fail(v, fmt::format("fault.{} must be a string", key));
    if (key == "layer") f.layer = *s;
    else if (key == "target") f.target = *s;
    else if (key == "effect") f.effect = *s;
    else if (key == "trigger") f.trigger = *s;
    else if (key == "range") f.range = *s;
    else c.fail(v, fmt::format("unknown key '{}' in fault", key));
  }
  for (auto key : {"layer", "target", "effect", "trigger"})
    if (!ft->get(key)) c.fail(*fn, fmt::format("fault needs '{}' (layer, target, effect and trigger)", key));
  if (auto err = faults::validate(f); !err.empty()) c.fail(*fn, err);
  c.r.fault = f;
  if (fails) parse_fault_fails(c, *fails, f);
}

// The one resource need the scheduler cannot derive from the row.
void parse_exclusive(const RowCtx& c) {
  auto* x = c.t.get("exclusive");
  if (!x) return;
  auto b = x->value_exact<bool>();
  if (!b) c.fail(*x, "exclusive must be true or false");
  c.r.exclusive = *b;
}

// Seconds, finite and positive; at most an hour (a longer case is a hang).
void parse_timeout(const RowCtx& c) {
  auto* to = c.t.get("timeout");
  if (!to) return;
  auto v = to->value<double>();
  if (!v || !std::isfinite(*v) || *v <= 0 || *v > 3600)
    c.fail(*to, "timeout must be a number of seconds in (0, 3600]");
  c.r.timeout_s = *v;
}

CaseRow parse_row(const std::string& file, const toml::table& t, const std::string& file_area) {
  CaseRow r;
  r.file = file;
  r.line = static_cast<int>(t.source().begin.line);
  RowCtx c{file, t, r};
  check_keys(c);
  parse_id(c);
  parse_area(c, file_area);
  parse_scenario(c);
  parse_source(c);
  parse_interfaces(c);
  parse_params(c);
  parse_expect(c);
  parse_when(c);
  parse_requires(c);
  parse_targets(c);
  parse_texts(c);
  parse_xfail(c);
  parse_fault(c);
  parse_exclusive(c);
  parse_timeout(c);
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

namespace {

const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

}  // namespace

// Opened without blocking (a FIFO would wait for a writer forever) and
// refused unless it is a regular file once open.
std::string read_text_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    throw LoadError(fmt::format("{}: cannot open: {} ({})", path, errno_name(e), strerror(e)));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) throw LoadError(fmt::format("{}: cannot stat: {}", path, errno_name(errno)));
  if (!S_ISREG(st.st_mode))
    throw LoadError(fmt::format("{}: {}, not a regular file", path, file_kind(st.st_mode)));
  constexpr off_t kMaxTable = 16 << 20;
  if (st.st_size > kMaxTable) throw LoadError(fmt::format("{}: {} bytes; at most 16 MiB is read", path, st.st_size));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      throw LoadError(fmt::format("{}: cannot read: {} ({})", path, errno_name(e), strerror(e)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

std::vector<CaseRow> load_case_file(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse(read_text_file(path), path);
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
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".toml") files.push_back(it->path().string());
  if (ec) throw LoadError(fmt::format("{}: cannot list: {}", dir, ec.message()));
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
