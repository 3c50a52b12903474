# Shared by the CLI test scripts (sourced after they set `bin`): pass/fail counters and
# expect NAME WANT_RC NEEDLE -- ARGS..., which runs "$bin" ARGS and checks its exit code and
# that its output holds NEEDLE.
fails=0
pass=0

expect() {
  local name="$1" want="$2" needle="$3"
  shift 4
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, want $want"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  if ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL $name: output lacks '$needle'"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  pass=$((pass + 1))
}
