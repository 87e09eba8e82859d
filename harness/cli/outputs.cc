// The writers of a run and its result file.
#include "cli/outputs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "compare.h"
#include "targets/alignment_table.h"

namespace aioh::cli {

Outputs::Outputs(const Options& o) : o_(o) {
  if (!o.output.empty()) {
    int fd = open(o.output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      usage_error(errno == EEXIST ? fmt::format("{} exists; a result is never overwritten", o.output)
                                  : fmt::format("cannot create {}: {}", o.output, strerror(errno)));
    file_ = fdopen(fd, "w");
  }
  color_ = o.color == "always" || (o.color == "auto" && isatty(STDOUT_FILENO));
  if (file_) {
    writers_.push_back(make_table_writer(stdout, color_));
    writers_.push_back(make_writer(o.format, file_, false));
  } else if (o.compare) {
    writers_.push_back(make_table_writer(stderr, color_ && isatty(STDERR_FILENO)));
    if (o.format != "table") writers_.push_back(make_writer(o.format, stdout, false));
  } else {
    writers_.push_back(make_writer(o.format, stdout, color_));
  }
}

Outputs::~Outputs() {
  if (file_) fclose(file_);
}

void Outputs::begin(const RunInfo& run, const Environment& env) {
  for (auto& w : writers_) w->begin(run, env);
}

void Outputs::result(const Result& r) {
  for (auto& w : writers_) w->result(r);
  if (o_.compare) all_.push_back(r);
}

void Outputs::end(const RunInfo& run, const Summary& summary) {
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
    fmt::print("results written to {}\n", o_.output);
  }
}

}  // namespace aioh::cli
