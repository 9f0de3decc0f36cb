#!/usr/bin/env python3
"""Count individual tests across meson test logs (build/meson-logs/testlog.txt).

A Criterion program counts as the tests it ran: its "Synthesis" line gives
passed and failed (crashed counts as failed), and each "[SKIP] suite::name:
reason" line is one skipped test. Any other program (shell tests, fuzz
replays, the stress program) counts as one test: exit status 0 passed, 77
skipped (its "SKIP:" line, if any, is the reason), anything else failed. A
Criterion program that died before its synthesis counts as one failure.
meson's text log does not mark tests declared should_fail: a test checks
the failure it expects itself and exits 0.

Prints every skipped test with its reason, then one line
"tests: N passed, M failed, K skipped". Exits 1 when anything failed or no
test ran at all.

usage: test-summary.py LABEL=testlog.txt...
"""
import re
import sys

SYNTHESIS = re.compile(
    r"\[====\] Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
CRITERION_SKIP = re.compile(r"\[SKIP\] (\S+?::\S+?): ?(.*)")
SCRIPT_SKIP = re.compile(r"^skip:? (.*)$", re.I | re.M)


def sections(text):
    """Yield (name, status, output) for each test of one testlog.txt."""
    for block in re.split(r"\n=+ \d+/\d+ =+\n", text)[1:]:
        name = re.search(r"^test:\s+(.*)$", block, re.M)
        result = re.search(r"^result:\s+(.*)$", block, re.M)
        if not name or not result:
            continue
        m = re.search(r"exit status (-?\d+)", result.group(1))
        status = int(m.group(1)) if m else None  # None: timeout or killed by a signal
        yield name.group(1).strip(), status, block


def main(args):
    passed = failed = 0
    skipped = []
    failures = []
    for arg in args:
        label, _, path = arg.partition("=")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            print(f"test-summary: {path}: {e.strerror}", file=sys.stderr)
            failed += 1
            continue
        for name, status, out in sections(text):
            where = f"{label}: {name}"
            synth = SYNTHESIS.findall(out)
            if synth:
                _, ok, bad, crashed = map(int, synth[-1])
                passed += ok
                failed += bad + crashed
                if bad + crashed or status != 0:
                    failures.append(where)
                    if bad + crashed == 0:
                        failed += 1  # the program itself failed after its tests
                skipped += [f"{where}: {t}: {why}" for t, why in CRITERION_SKIP.findall(out)]
            elif status == 0:
                passed += 1
            elif status == 77:
                why = SCRIPT_SKIP.search(out)
                skipped.append(f"{where}: {why.group(1) if why else 'no reason given'}")
            else:
                failed += 1
                failures.append(where)
    for s in skipped:
        print(f"skipped: {s}")
    for f in failures:
        print(f"failed: {f}")
    print(f"tests: {passed} passed, {failed} failed, {len(skipped)} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
