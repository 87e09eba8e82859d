// Tests for running tools (subprocess.h): run_tools starts every tool before
// it waits for any (the targets' mkfs runs overlap), and answers for each, in
// order, as run_tool does.
#include <gtest/gtest.h>

#include "subprocess.h"
#include "test_util.h"

namespace aioh {
namespace {

// A tool that marks itself started, then waits (a bounded while, so that
// tools run one after another end instead of hanging) for the other's mark.
std::vector<std::string> meets(const std::string& dir, const std::string& me, const std::string& other) {
  return {"sh", "-c",
          fmt::format("touch {0}/{1}; i=0; while [ ! -e {0}/{2} ]; do i=$((i+1)); [ $i -gt 500 ] && exit 1; "
                      "sleep 0.01; done",
                      dir, me, other)};
}

TEST(RunTools, StartsEveryToolBeforeWaitingForAny) {
  test::TempDir d;
  // One after another, the first would give up waiting for the second's mark.
  std::vector<std::string> errs = run_tools({meets(d.path, "a", "b"), meets(d.path, "b", "a")});
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], "");
  EXPECT_EQ(errs[1], "");
}

TEST(RunTools, OneAnswerPerToolInOrderAsRunToolGivesIt) {
  std::vector<std::vector<std::string>> argvs = {
      {"true"}, {"sh", "-c", "echo boom; exit 3"}, {"/nonexistent/aioh-tool"}};
  std::vector<std::string> errs = run_tools(argvs);
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_EQ(errs[0], "");
  EXPECT_EQ(errs[1], "sh exited 3: boom");
  EXPECT_EQ(errs[2], "/nonexistent/aioh-tool exited 127: ");
  for (size_t i = 0; i < argvs.size(); i++) EXPECT_EQ(run_tool(argvs[i]), errs[i]) << argvs[i][0];
  EXPECT_TRUE(run_tools({}).empty());
}

}  // namespace
}  // namespace aioh
