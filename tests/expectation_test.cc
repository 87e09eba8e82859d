// Expectation strings: parsing, validation of errno names and phases, and the
// in-order comparison with observations that decides pass or fail.
#include <gtest/gtest.h>

#include "expectation.h"

using namespace aioh;

TEST(Expectation, ParsesStepsInOrder) {
  std::string err;
  auto e = parse_expectation("1@submit, EBADF@completion", &err);
  ASSERT_TRUE(e) << err;
  ASSERT_EQ(e->steps.size(), 2u);
  EXPECT_EQ(e->steps[0].tokens[0], "1");
  EXPECT_EQ(e->steps[0].phase, Phase::submit);
  EXPECT_EQ(e->steps[1].tokens[0], "EBADF");
  EXPECT_EQ(e->steps[1].phase, Phase::completion);
}

TEST(Expectation, RejectsUnknownErrnoPhaseAndMissingPhase) {
  std::string err;
  EXPECT_FALSE(parse_expectation("EBOGUS@submit", &err));
  EXPECT_NE(err.find("unknown errno name 'EBOGUS'"), std::string::npos);
  EXPECT_FALSE(parse_expectation("EBADF@later", &err));
  EXPECT_NE(err.find("unknown phase"), std::string::npos);
  EXPECT_FALSE(parse_expectation("EBADF", &err));
  EXPECT_FALSE(parse_expectation("banana@submit", &err));
}

TEST(Expectation, AlternativesAndSymbols) {
  std::string err;
  auto e = parse_expectation("EINTR|ECANCELED@completion", &err);
  ASSERT_TRUE(e) << err;
  EXPECT_TRUE(e->has_alternatives());
  EXPECT_EQ(compare(*e, {{"ECANCELED", Phase::completion}}), "");
  EXPECT_EQ(compare(*e, {{"EINTR", Phase::completion}}), "");
  auto s = parse_expectation("AIO_NOTCANCELED@cancel", &err);
  ASSERT_TRUE(s) << err;
  EXPECT_EQ(compare(*s, {{"AIO_NOTCANCELED", Phase::cancel}}), "");
}

TEST(Expectation, CompareNamesTheFirstDifference) {
  std::string err;
  auto e = *parse_expectation("1@submit, EBADF@completion", &err);
  EXPECT_EQ(compare(e, {{"1", Phase::submit}, {"EBADF", Phase::completion}}), "");
  EXPECT_NE(compare(e, {{"1", Phase::submit}, {"EINVAL", Phase::completion}}).find("step 2"), std::string::npos);
  // Same errno in the wrong phase is a difference too.
  EXPECT_NE(compare(e, {{"1", Phase::submit}, {"EBADF", Phase::wait}}), "");
  // Missing and extra observations.
  EXPECT_NE(compare(e, {{"1", Phase::submit}}).find("observed nothing more"), std::string::npos);
  EXPECT_NE(compare(e, {{"1", Phase::submit}, {"EBADF", Phase::completion}, {"0", Phase::wait}})
                .find("beyond the expectation"),
            std::string::npos);
}
