#!/usr/bin/env bash
# .ci/run_fuzzer.sh, the fuzz stage of .ci/run: a failing fuzzer fails the stage with its whole
# output (a crash report is longer than the last lines), a passing one prints only its tail.
# Usage: test_run_fuzzer.sh PATH_TO_RUN_FUZZER_SH
set -u
runner="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
# A stand-in fuzzer: 40 lines, the first the report's head, then exits with $1.
cat >"$work/fuzzer" <<'SH'
#!/bin/sh
echo "==42==ERROR: AddressSanitizer: heap-buffer-overflow (report head)"
i=1; while [ $i -le 38 ]; do echo "    #$i frame $i"; i=$((i + 1)); done
echo "stats: last line"
exit "$1"
SH
chmod +x "$work/fuzzer"
out=$(bash "$runner" "$work/logs/crash.log" "$work/fuzzer" 1 2>&1); rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL failing fuzzer: exit $rc, want 1"; fails=$((fails + 1)); }
for needle in "report head" "#20 frame 20" "stats: last line" "full log: $work/logs/crash.log"; do
  grep -qF -- "$needle" <<<"$out" || { echo "FAIL failing fuzzer: output lacks '$needle'"; fails=$((fails + 1)); }
done
[ "$(grep -c frame "$work/logs/crash.log")" -eq 38 ] || { echo "FAIL the log is not whole"; fails=$((fails + 1)); }
out=$(bash "$runner" "$work/ok.log" "$work/fuzzer" 0 2>&1); rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL passing fuzzer: exit $rc"; fails=$((fails + 1)); }
[ "$(wc -l <<<"$out")" -eq 4 ] && grep -qF "stats: last line" <<<"$out" && ! grep -qF "report head" <<<"$out" ||
  { echo "FAIL passing fuzzer: want the last 4 lines, got:"; echo "$out"; fails=$((fails + 1)); }
# Under `set -e` (as in .ci/run) a failing fuzzer stops the script.
bash -c "set -e; bash '$runner' '$work/x.log' '$work/fuzzer' 3 >/dev/null; echo reached" | grep -q reached &&
  { echo "FAIL set -e script went on after a failing fuzzer"; fails=$((fails + 1)); }
echo "$fails failed"
[ "$fails" -eq 0 ]
