// The writers of a run, its result file and its progress line.
#include "cli/outputs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "cli/terminal.h"
#include "compare.h"
#include "errno_names.h"
#include "targets/alignment_table.h"

namespace aioh::cli {

Outputs::Outputs(const Options& o) : o_(o) {
  if (!o.output.empty()) {
    int fd = open(o.output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      int e = errno;
      usage_error(e == EEXIST ? fmt::format("{} exists; a result is never overwritten", o.output)
                              : fmt::format("cannot create {}: {} ({})", o.output, errno_name(e), strerror(e)));
    }
    file_ = fdopen(fd, "w");
  }
  color_ = color_for(o.color, STDOUT_FILENO);
  bool quiet = o.verbosity < 0;
  table_on_stdout_ = true;
  if (file_) {
    // `--format F --output FILE`: F is the file's, stdout keeps the table;
    // `--output F:FILE`: stdout carries --format (the table by default).
    if (o.output_names_format && o.format != "table") {
      writers_.push_back(make_writer(o.format, stdout, false));
      table_on_stdout_ = false;
    } else {
      writers_.push_back(make_table_writer(stdout, color_, quiet));
    }
    writers_.push_back(make_writer(o.output_format, file_, false));
  } else if (o.compare) {
    writers_.push_back(make_table_writer(stderr, color_for(o.color, STDERR_FILENO), quiet));
    if (o.format != "table") writers_.push_back(make_writer(o.format, stdout, false));
  } else if (o.format == "table") {
    writers_.push_back(make_table_writer(stdout, color_, quiet));
  } else {
    writers_.push_back(make_writer(o.format, stdout, false));
    table_on_stdout_ = false;
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
  if (file_) {
    fclose(file_);
    if (!wrote_) unlink(o_.output.c_str());
  }
}

void Outputs::begin(const RunInfo& run, const Environment& env) {
  for (auto& w : writers_) w->begin(run, env);
  if (want_progress_) progress_ = std::make_unique<Progress>(stderr, run.planned, progress_style_);
}

void Outputs::started(const CaseRun& c) {
  if (progress_) progress_->started(c.id);
}

void Outputs::result(const Result& r) {
  wrote_ = true;
  if (progress_) progress_->finished(r);
  for (auto& w : writers_) w->result(r);
  if (o_.compare) all_.push_back(r);
}

void Outputs::end(const RunInfo& run, const Summary& summary) {
  progress_.reset();
  wrote_ = true;  // an empty run's file is still its result
  for (auto& w : writers_) w->end(run, summary);
  if (o_.compare) {
    std::vector<Result> plain;
    for (auto& r : all_)
      if (!r.target) plain.push_back(r);
    if (!plain.empty()) print_comparison(stdout, plain, o_.ifaces, color_);
    print_alignment_tables(stdout, all_, o_.ifaces, color_);
  }
  if (file_) {
    fclose(file_);
    file_ = nullptr;
    // Beside the table; never into a machine format on stdout.
    fmt::print(table_on_stdout_ ? stdout : stderr, "results written to {}\n", o_.output);
  }
}

}  // namespace aioh::cli
