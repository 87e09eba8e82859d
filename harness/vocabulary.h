// The one vocabulary every output speaks: verdicts with their class and what
// they do to the exit status, and the exit statuses themselves. Writers,
// the summary, the VM orchestrator and the report generator all map from
// here (`harness --vocabulary` exports it as JSON for the Python side), so a
// verdict is never spelled out, or classified, a second time.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace aioh {

enum class Verdict : uint8_t {
  pass, fail, skip, xfail, xpass, broken, timeout, crash,
  // Produced by the VM orchestrator for a guest, never by a case's child.
  boot_failed, kernel_panic, no_result,
};

// good: the row held; bad: something is wrong (the run fails); neutral: the
// row could not say (skip) or says something worth reading (xpass).
enum class VerdictClass : uint8_t { good, bad, neutral };

struct VerdictDef {
  Verdict verdict;
  std::string_view name;      // as written in every output: "pass", "boot-failed"
  VerdictClass cls;
  bool fails_run;             // exit status 1 when any result has it
  bool vm_only;               // only the VM orchestrator produces it
  std::string_view meaning;   // one line, for --help, the README and reports
};

// xpass is neutral and does not fail the run: a known defect that did not
// reproduce is news (the row may be stale), not a regression; every output
// shows it loudly and the gate reports the change.
inline constexpr VerdictDef kVerdictDefs[] = {
    {Verdict::pass, "pass", VerdictClass::good, false, false,
     "the observed outcomes matched the row, conventions held, data verified"},
    {Verdict::fail, "fail", VerdictClass::bad, true, false,
     "an outcome differed, a convention was breached, data did not verify, or the kernel log showed a splat"},
    {Verdict::skip, "skip", VerdictClass::neutral, false, false,
     "could not run here; the reason names the probed fact"},
    {Verdict::xfail, "xfail", VerdictClass::good, false, false,
     "a known defect, recorded in the row with the commit or bug that fixes it, reproduced"},
    {Verdict::xpass, "xpass", VerdictClass::neutral, false, false,
     "a known defect did not reproduce: reported loudly, the row may be stale; does not fail the run"},
    {Verdict::broken, "broken", VerdictClass::bad, true, false,
     "the case could not assert anything (its set-up failed, or it observed nothing)"},
    {Verdict::timeout, "timeout", VerdictClass::bad, true, false,
     "the watchdog killed the case's process group"},
    {Verdict::crash, "crash", VerdictClass::bad, true, false,
     "the case's child died of a signal"},
    {Verdict::boot_failed, "boot-failed", VerdictClass::bad, true, true,
     "the guest kernel did not boot to the harness"},
    {Verdict::kernel_panic, "kernel-panic", VerdictClass::bad, true, true,
     "the guest kernel panicked while the case ran"},
    {Verdict::no_result, "no-result", VerdictClass::bad, true, true,
     "the guest ended without reporting the case"},
};

const VerdictDef& verdict_def(Verdict v);
std::string_view verdict_name(Verdict v);
std::optional<Verdict> verdict_from_name(std::string_view name);
std::string_view verdict_class_name(VerdictClass c);

// Exit statuses of `harness` (and, where they apply, the scripts around it).
struct ExitStatusDef {
  int status;                 // 128 stands for 128+N (the signal N)
  std::string_view name;
  std::string_view meaning;
};
inline constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitAllSkipped = 4, kExitSignalBase = 128;
inline constexpr ExitStatusDef kExitStatuses[] = {
    {kExitOk, "ok", "nothing failed (xpass and some skips included)"},
    {kExitFailed, "failed", "a case failed, timed out, crashed or was broken"},
    {kExitUsage, "usage", "bad usage or bad input (nothing ran), or an output that could not be written: one line on stderr"},
    {kExitAllSkipped, "all-skipped", "every selected case skipped (kselftest's KSFT_SKIP)"},
    {kExitSignalBase, "signal", "stopped by signal N (128+N: 130 SIGINT, 143 SIGTERM, 129 SIGHUP); set-up restored"},
};

}  // namespace aioh
