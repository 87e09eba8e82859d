"""Typed phases of one guest run and how a boot that ended early is classified.

The guest prints `AIOH-PHASE <name>` on the console as it moves on; the host reads the console
log afterwards (pure functions over text, so recorded consoles are the test fixtures).  Each
failure has its own verdict, never "fail": a test verdict is only the harness's to give.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from reports import vocabulary as V

# "alone": the part after the catalog with the rows that run alone (vm/run.py ALONE_PART); the
# device-fault parts after it mark themselves run-fault.<k>, which is "run".
PHASES = ("fetch", "build-guest", "boot", "setup", "run", "alone", "collect")
# The vocabulary's VM-only verdicts, and timeout (no progress), which the harness also writes.
VM_VERDICTS = V.VM_ONLY + ("timeout",)

PANIC_RE = re.compile(r"Kernel panic - not syncing")
MARK_RE = re.compile(r"^AIOH-PHASE (\S+)", re.M)
CASE_MARK_RE = re.compile(r"aioharness: (begin|end) (\S+)")
SETUP_FAILED_RE = re.compile(r"^AIOH-SETUP-FAILED (.*)$", re.M)
EXCERPT_LINES = 40


@dataclass(frozen=True)
class Ending:
    verdict: str | None     # None: the guest finished its run; else one of VM_VERDICTS
    phase: str              # the phase the guest was in when it ended
    reason: str
    excerpt: str            # console lines that show why


def last_phase(console: str) -> str:
    """The phase of the last marker this classifier knows (setup-mkfs is still setup)."""
    marks = [m.split("-")[0] for m in MARK_RE.findall(console)]
    known = [m for m in marks if m in PHASES]
    return known[-1] if known else "boot"


def excerpt(console: str, around: int | None = None, lines: int = EXCERPT_LINES) -> str:
    """The console lines before (and a few after) the line index `around`, else the tail."""
    ls = console.splitlines()
    if around is None:
        return "\n".join(ls[-lines:])
    return "\n".join(ls[max(0, around - lines + 8):around + 8])


def classify(console: str, *, finished: bool, timed_out: bool, qemu_err: str = "") -> Ending:
    """finished: the guest sent its exit record; timed_out: the host's watchdog killed it;
    qemu_err: QEMU's stderr (it explains a boot that never produced a console line)."""
    phase = last_phase(console)
    if finished:
        return Ending(None, phase, "", "")
    ls = console.splitlines()
    for i, line in enumerate(ls):
        if PANIC_RE.search(line):
            msg = line[line.find("Kernel panic"):].strip()
            return Ending("kernel-panic", phase, msg, excerpt(console, i))
    if timed_out:
        return Ending("timeout", phase, f"guest made no progress in phase {phase}", excerpt(console))
    m = SETUP_FAILED_RE.search(console)
    if m:
        return Ending("no-result", "setup", f"guest setup failed: {m.group(1)}", excerpt(console))
    if phase == "boot":
        why = qemu_err.strip().splitlines()[-1] if qemu_err.strip() else "guest never reached its init"
        text = excerpt(console) + ("\n--- qemu stderr ---\n" + qemu_err.strip() if qemu_err.strip() else "")
        return Ending("boot-failed", "boot", why, text.strip())
    return Ending("no-result", phase, f"guest stopped in phase {phase} without a panic message",
                  excerpt(console))


def running_case(console: str) -> str | None:
    """The id the harness began (marked in /dev/kmsg, echoed on the console) and never ended."""
    open_id = None
    for what, cid in CASE_MARK_RE.findall(console):
        open_id = cid if what == "begin" else (None if cid == open_id else open_id)
    return open_id
