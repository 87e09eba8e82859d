// See subprocess.h.
#include "subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace aioh {

std::string run_tool(const std::vector<std::string>& argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
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
    return "fork failed";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, n);
  close(p[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}  // a stop signal must not lose the child's status
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return "";
  if (out.size() > 300) out = out.substr(out.size() - 300);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return fmt::format("{} exited {}: {}", argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
}

}  // namespace aioh
