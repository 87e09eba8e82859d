// The output streams of one run: stdout, stderr and every `--output
// FORMAT:PATH` file (repeatable), each with its writer, all fed the same
// result records as they arrive. Files are created, never overwritten; every
// write, flush and the final close is checked, so a full disk or a file size
// limit ends as one line naming the output (and exit status 2), never as
// "results written" over a truncated file. Which writer goes where is the
// command line's choice (cli/outputs.cc); this file only keeps them honest.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "writer.h"

namespace aioh {

// One output: a format and the file it goes to.
struct OutputSpec {
  std::string format, path;
  bool named = false;  // written FORMAT:PATH (else PATH alone, in the --format)
};

// Parses the `--output` values: "FORMAT:PATH" (FORMAT one of kFormats), or a
// PATH alone, which takes `format` (the `--format` value, so `--format json
// --output run.json` keeps working). A path named twice is an error. Returns
// the error line, empty on success.
std::string parse_output_specs(const std::vector<std::string>& values, const std::string& format,
                               std::vector<OutputSpec>* specs);

// Whether every spec names its format: stdout is then free for --format.
bool all_name_their_format(const std::vector<OutputSpec>& specs);

class OutputStreams {
 public:
  // Ignores SIGXFSZ: past RLIMIT_FSIZE the write then fails with EFBIG and
  // is reported, instead of the signal killing the harness mid-line.
  OutputStreams();
  OutputStreams(const OutputStreams&) = delete;
  OutputStreams& operator=(const OutputStreams&) = delete;
  ~OutputStreams();

  using MakeWriter = std::function<std::unique_ptr<Writer>(FILE*)>;
  // A stream the harness already has (stdout, stderr): written through fd,
  // checked, flushed at close() and never closed. `name` names it in errors.
  std::string add_stream(const std::string& name, int fd, const MakeWriter& make);
  // Creates spec.path (O_EXCL: an existing file is refused) with the writer
  // of spec.format, or the one `make` gives. Returns the error line, empty on success.
  std::string add_file(const OutputSpec& spec, const MakeWriter& make = {});

  void begin(const RunInfo& run, const Environment& env);
  void result(const Result& r);
  void end(const RunInfo& run, const Summary& s);

  // Flushes and closes every output (fsync for the files) and returns one
  // line per output that failed at any point ("cannot write run.json: File
  // too large"); empty when every byte reached its file.
  std::vector<std::string> close();

  // Closes and removes the files created here (a run that stopped before it
  // had any result leaves nothing behind).
  void remove_files();

  // The files created, for the closing "results written to ..." line.
  std::vector<std::string> paths() const;

 private:
  // A stream over one fd whose every write goes through write_fd(), which
  // keeps the first errno: stdio alone would leave only ferror().
  struct Out {
    std::string name;  // the path, or "stdout"/"stderr"
    int fd = -1;
    bool owned = false;  // a file we created (fsynced and closed at the end)
    int write_errno = 0;
    FILE* file = nullptr;
    std::unique_ptr<Writer> writer;
    std::string error;  // the first failure; the writer gets nothing after it
  };
  static ssize_t write_fd(void* cookie, const char* buf, size_t size);
  std::string add(const std::string& name, int fd, bool owned, const MakeWriter& make);
  template <typename F>
  void each(F call);
  void check(Out& o, int err);
  std::vector<std::unique_ptr<Out>> outs_;
};

}  // namespace aioh
