// The writers of a run, its result files and its progress line.
#include "cli/outputs.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/terminal.h"
#include "compare.h"
#include "targets/alignment_table.h"

namespace aioh::cli {
namespace {

// Results finish in any order at -jN; every format but jsonl (which streams
// them as they come) gets them in catalog order, by their place in the
// selection (`*index`, set before each result).
class InCatalogOrder : public Writer {
 public:
  InCatalogOrder(std::unique_ptr<Writer> w, const size_t* index)
      : w_(std::move(w)), index_(index), order_([this](const Result& r) { w_->result(r); }) {}
  void begin(const RunInfo& run, const Environment& env) override { w_->begin(run, env); }
  void result(const Result& r) override { order_.add(*index_, r); }
  void end(const RunInfo& run, const Summary& s) override {
    order_.flush();  // a stopped run: what finished, in order
    w_->end(run, s);
  }

 private:
  std::unique_ptr<Writer> w_;
  const size_t* index_;
  OrderedResults order_;
};

std::unique_ptr<Writer> in_catalog_order(std::unique_ptr<Writer> w, const std::string& format, const size_t* index) {
  if (!w || format == "jsonl") return w;
  return std::make_unique<InCatalogOrder>(std::move(w), index);
}

}  // namespace

Outputs::Outputs(const Options& o) : o_(o) {
  color_ = color_for(o.color, STDOUT_FILENO);
  const bool quiet = o.verbosity < 0;
  const size_t* index = &index_;
  auto table = [quiet, index](bool color) {
    return [quiet, color, index](FILE* f) { return in_catalog_order(make_table_writer(f, color, quiet), "table", index); };
  };
  auto machine = [&o, index](FILE* f) { return in_catalog_order(make_writer(o.format, f, false), o.format, index); };
  std::string err;
  table_on_stdout_ = true;
  if (!o.output_specs.empty()) {
    // `--format F --output FILE`: F is the file's, stdout keeps the table;
    // `--output F:FILE` (each file naming its format): stdout carries
    // --format (the table by default).
    if (all_name_their_format(o.output_specs) && o.format != "table") {
      err = streams_.add_stream("stdout", STDOUT_FILENO, machine);
      table_on_stdout_ = false;
      machine_on_stdout_ = true;
    } else {
      err = streams_.add_stream("stdout", STDOUT_FILENO, table(color_));
    }
  } else if (o.compare) {
    err = streams_.add_stream("stderr", STDERR_FILENO, table(color_for(o.color, STDERR_FILENO)));
    if (err.empty() && o.format != "table") {
      err = streams_.add_stream("stdout", STDOUT_FILENO, machine);
      machine_on_stdout_ = true;
    }
  } else if (o.format == "table") {
    err = streams_.add_stream("stdout", STDOUT_FILENO, table(color_));
  } else {
    err = streams_.add_stream("stdout", STDOUT_FILENO, machine);
    table_on_stdout_ = false;
    machine_on_stdout_ = true;
  }
  for (auto& spec : o.output_specs) {
    if (!err.empty()) break;
    err = streams_.add_file(spec, [&spec, index](FILE* f) {
      return in_catalog_order(make_writer(spec.format, f, false), spec.format, index);
    });
  }
  if (!err.empty()) {
    streams_.remove_files();
    usage_error(err);
  }
  // The table is progress enough; without it, stderr says how far the run is
  // (-q: never; -v: also beside the table, as lines).
  if (!quiet && (!table_on_stdout_ || o.verbosity > 0)) {
    Progress::Style style;
    style.live = !table_on_stdout_ && live_terminal(STDERR_FILENO);
    style.announce_starts = o.verbosity > 0;
    progress_style_ = style;
    want_progress_ = true;
  }
}

Outputs::~Outputs() {
  progress_.reset();
  if (!wrote_) streams_.remove_files();
}

void Outputs::begin(const RunInfo& run, const Environment& env) {
  streams_.begin(run, env);
  if (want_progress_) progress_ = std::make_unique<Progress>(stderr, run.planned, progress_style_);
}

void Outputs::started(const CaseRun& c) {
  if (progress_) progress_->started(c.id);
}

void Outputs::result(const Result& r, size_t index) {
  wrote_ = true;
  if (progress_) progress_->finished(r);
  index_ = index;
  streams_.result(r);
  if (o_.compare) all_.push_back(r);
}

bool Outputs::end(const RunInfo& run, const Summary& summary) {
  progress_.reset();
  wrote_ = true;  // an empty run's file is still its result
  streams_.end(run, summary);
  if (o_.compare) {
    // The tables after the run, on stdout unless a machine format is there.
    FILE* out = machine_on_stdout_ ? stderr : stdout;
    bool color = machine_on_stdout_ ? color_for(o_.color, STDERR_FILENO) : color_;
    fflush(stdout);
    std::vector<Result> plain;
    for (auto& r : all_)
      if (!r.target) plain.push_back(r);
    if (!plain.empty()) print_comparison(out, plain, o_.ifaces, color);
    print_alignment_tables(out, all_, o_.ifaces, color);
  }
  auto errors = streams_.close();
  for (auto& e : errors) fmt::print(stderr, "harness: {}\n", e);
  if (!errors.empty()) return false;
  // Beside the table; never into a machine format on stdout.
  if (auto paths = streams_.paths(); !paths.empty())
    fmt::print(table_on_stdout_ ? stdout : stderr, "results written to {}\n", fmt::join(paths, ", "));
  return true;
}

}  // namespace aioh::cli
