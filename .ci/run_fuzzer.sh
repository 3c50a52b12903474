#!/usr/bin/env bash
# Runs one fuzzer (or any command) with its whole output in LOG. On success prints the last
# lines (libFuzzer's final stats); on failure prints the whole log (a crash report is long:
# stack traces, the input, the reproducer) and exits with the command's status.
# Usage: run_fuzzer.sh LOG COMMAND [ARGS...]
set -u
log="$1"
shift
mkdir -p "$(dirname "$log")"
"$@" >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
  tail -n 4 "$log"
  exit 0
fi
cat "$log"
echo "FAILED (exit $rc): $*"
echo "full log: $log"
exit "$rc"
