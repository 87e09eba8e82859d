// A fifth interface needs only its adapter and its rows: a test-only backend
// (synchronous pread/pwrite, done at submit, handed out at wait) registered
// here appears in every list the harness derives from the registry — catalog
// order, `interfaces = "all"`, expect keys, the vocabulary, availability,
// device slots, whether a negative number is a value — and a real row of the
// catalog's scenarios passes on it through the runner. A second registration
// under a taken name aborts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <deque>

#include "backend.h"
#include "case_table.h"
#include "faults/fault.h"
#include "runner.h"
#include "test_util.h"
#include "cli/vocabulary.h"
#include "vocabulary.h"

namespace aioh {
namespace {

constexpr std::string_view kName = "sync-test";

// Every request is done inside submit with pread/pwrite; wait hands back
// what submit queued. Errors arrive as the call's errno at completion.
class SyncBackend : public Backend {
 public:
  std::string_view name() const override { return kName; }
  BackendTraits traits() const override { return {}; }
  Outcome setup(const SetupParams&) override { return Outcome::ok(0, Channel::ret, Phase::setup); }
  Outcome submit(std::vector<Request*> reqs) override {
    for (Request* r : reqs) {
      if (r->op != Op::read && r->op != Op::write) return Outcome::error(EINVAL, Channel::ret, Phase::submit);
      ssize_t n = r->op == Op::read ? pread(r->fd, r->buf, r->len, r->offset) : pwrite(r->fd, r->buf, r->len, r->offset);
      done_.push_back({r->tag, n < 0 ? Outcome::error(errno, Channel::errno_, Phase::completion)
                                     : Outcome::ok(n, Channel::ret, Phase::completion)});
    }
    return Outcome::ok(static_cast<int64_t>(reqs.size()), Channel::ret, Phase::submit);
  }
  Outcome wait(unsigned min_nr, unsigned max_nr, std::optional<timespec>, std::vector<Completion>& out) override {
    if (done_.size() < min_nr) return Outcome::error(EAGAIN, Channel::ret, Phase::wait);
    unsigned n = 0;
    for (; n < max_nr && !done_.empty(); n++) {
      out.push_back(done_.front());
      done_.pop_front();
    }
    return Outcome::ok(n, Channel::ret, Phase::wait);
  }
  Outcome cancel(const Request&) override { return Outcome::error(EINVAL, Channel::ret, Phase::cancel); }
  Outcome teardown() override { return Outcome::ok(0, Channel::ret, Phase::teardown); }

 private:
  std::deque<Completion> done_;
};

BackendEntry sync_entry() {
  return {.name = kName, .order = 50, .make = make_as<SyncBackend>, .available = [](const Environment& env) {
            return InterfaceAvailability{env.flag("root"), "needs the fact 'root'"};
          }};
}

// Registered for one test, removed after it, so the other suites see the
// four real interfaces only.
struct RegistryTest : ::testing::Test {
  RegistryTest() { register_backend(sync_entry()); }
  ~RegistryTest() override { unregister_backend(kName); }
};

TEST_F(RegistryTest, TheNewInterfaceIsListedInCatalogOrder) {
  EXPECT_EQ(interface_names(),
            (std::vector<std::string>{"posix-aio", "kernel-aio", "libaio", "io_uring", std::string(kName)}));
  EXPECT_TRUE(is_interface(kName));
  EXPECT_EQ(interface_index(kName), 4);
  EXPECT_EQ(faults::device_slot(kName), 4);
  ASSERT_NE(make_backend(kName), nullptr);
  EXPECT_EQ(make_backend(kName)->name(), kName);
  auto voc = cli::vocabulary_json()["interfaces"];
  EXPECT_EQ(voc.back(), std::string(kName));
}

TEST_F(RegistryTest, AvailabilityComesFromTheAdaptersRule) {
  Environment env;
  env.facts["root"] = false;
  record_interface_availability(env);
  EXPECT_FALSE(env.interfaces.at(std::string(kName)).available);
  EXPECT_EQ(env.interfaces.at(std::string(kName)).reason, "needs the fact 'root'");
  EXPECT_TRUE(env.interfaces.at("posix-aio").available);
}

TEST_F(RegistryTest, RowsOnAllIncludeItAndMayNameIt) {
  test::TempDir d;
  auto rows = load_case_file(d.write("t.toml", test::case_table("reg", {{.id = "batch", .scenario = "rw_batch",
      .params = R"({ count = 4, len = 4096 })",
      .expect_by = R"({ all = "4@submit, 4@wait", sync-test = "4@submit, 4@wait" })"}})));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].interfaces.back(), kName);
}

// Whether a negative number is a value is the adapter's word: sync-test did
// not declare negative_values, so a row expecting -1 on it cannot load.
TEST_F(RegistryTest, NegativeValuesAreRefusedUnlessTheAdapterDeclaresThem) {
  test::TempDir d;
  std::string row = test::case_table("reg", {{.id = "neg", .scenario = "rw_one",
      .interfaces = R"(["sync-test", "posix-aio"])", .expect = "1@submit, -1@completion"}});
  try {
    load_case_file(d.write("t.toml", row));
    ADD_FAILURE() << "a row expecting -1 on sync-test loaded";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("'-1' can never be observed on sync-test"), std::string::npos) << e.what();
  }
}

TEST_F(RegistryTest, ARealRowPassesOnItThroughTheRunner) {
  test::TempDir d;
  std::vector<CaseRow> rows = load_case_file(d.write("t.toml", test::case_table("reg", {{.id = "batch",
      .scenario = "rw_batch", .interfaces = R"(["sync-test"])", .params = R"({ count = 4, len = 4096 })",
      .expect = "4@submit, 4@wait"}})));
  ASSERT_EQ(rows.size(), 1u);
  Environment env;
  env.interfaces[std::string(kName)] = {true, ""};
  Runner runner(env, RunOptions{10, d.path, false});
  Result r = runner.run_one(CaseRun{&rows[0], std::string(kName), rows[0].case_id() + "@sync-test"});
  EXPECT_EQ(r.verdict_name(), "pass") << r.reason;
  EXPECT_EQ(r.observed, "4@submit, 4@wait");
}

TEST_F(RegistryTest, ATakenNameAborts) {
  EXPECT_DEATH(register_backend(sync_entry()), "registered twice");
}

TEST(Registry, UnregisteredNameIsGone) {
  EXPECT_FALSE(is_interface(kName));
  EXPECT_EQ(make_backend(kName), nullptr);
  EXPECT_EQ(interface_names().size(), 4u);
}

}  // namespace
}  // namespace aioh
