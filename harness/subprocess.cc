// See subprocess.h.
#include "subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace aioh {
namespace {

struct Started {
  pid_t pid = -1;
  int out = -1;     // its stdout and stderr
  std::string err;  // why it could not start
};

Started start_tool(const std::vector<std::string>& argv) {
  Started s;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    s.err = "pipe failed";
    return s;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    dup2(p[1], STDERR_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    s.err = "fork failed";
    return s;
  }
  s.pid = pid;
  s.out = p[0];
  return s;
}

// Its output to the end (a tool blocked on a full pipe while another is read
// goes on once its turn comes), then its exit.
std::string finish_tool(Started& s, const std::string& name) {
  if (s.pid < 0) return s.err;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(s.out, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, n);
  close(s.out);
  int st = 0;
  while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR) {}  // a stop signal must not lose the child's status
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return "";
  if (out.size() > 300) out = out.substr(out.size() - 300);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return fmt::format("{} exited {}: {}", name, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
}

}  // namespace

std::vector<std::string> run_tools(const std::vector<std::vector<std::string>>& argvs) {
  std::vector<Started> started;
  for (auto& argv : argvs) started.push_back(start_tool(argv));
  std::vector<std::string> out;
  for (size_t i = 0; i < argvs.size(); i++) out.push_back(finish_tool(started[i], argvs[i][0]));
  return out;
}

std::string run_tool(const std::vector<std::string>& argv) { return run_tools({argv})[0]; }

}  // namespace aioh
