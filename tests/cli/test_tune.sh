#!/usr/bin/env bash
# `ropegen tune` end to end on the host: the table, the record it keeps, errors, and
# `ropegen bundle` carrying the tuned plans.
# Usage: test_tune.sh PATH_TO_ROPEGEN
set -u
bin="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ROPEGEN_CACHE_DIR="$work/cache"
unset ROPEGEN_CACHE_PATH ROPEGEN_PLAN
. "$(dirname "$0")/expect.sh"  # fails, pass, expect
ok() { pass=$((pass + 1)); }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# The command CI runs: a table of the host's default buckets, the winners kept.
out=$("$bin" tune --arch host --head-dim 64 2>&1); rc=$?
record=$(sed -n 's/^kept in  //p' <<<"$out")
[ "$rc" -eq 0 ] && grep -qF "default plan" <<<"$out" && grep -qE '^ +1  ' <<<"$out" && grep -qE '^ +32  ' <<<"$out" &&
  grep -qE '^ +256  ' <<<"$out" && [ -f "$record" ] && [ "$(stat -c %a "$record")" = 600 ] &&
  [ "$(dirname "$record")" = "$work/cache" ] && ok || { fail "tune --arch host --head-dim 64: exit $rc"; echo "$out"; }
grep -qF '"format": "ropegen-tuned-plans"' "$record" && grep -qF 'device=' "$record" && ok ||
  fail "record $record lacks its format or device"

expect "tune --json" 0 '"default_us"' -- tune --arch host --head-dim 64 --buckets 1,8 --reps 1 --json
expect "tune --no-store" 0 "not kept (--no-store)" -- tune --arch host --head-dim 32 --buckets 4 --reps 1 --no-store
[ "$(ls "$work/cache"/*.rgtune | wc -l)" -eq 1 ] && ok || fail "--no-store wrote a record"
expect "tune spec text after it" 0 "default/best" -- tune --arch host "head_dim=32 q_heads=4 kv_heads=2" --buckets 1 --reps 1
expect "tune --quick" 0 "default/best" -- tune --arch host --head-dim 32 --quick --buckets 2 --reps 1 --no-store

# Errors: exit 1 for wrong values, 2 for a command line that cannot act.
expect "buckets that decrease" 1 "buckets must increase (1 after 32)" -- tune --arch host --head-dim 64 --buckets 32,1
expect "bucket zero" 1 "bad --buckets '0,4': '0' is not a token count from 1 to 16384" -- tune --arch host --head-dim 64 --buckets 0,4
expect "bucket not a number" 1 "'x' is not a token count" -- tune --arch host --head-dim 64 --buckets 1,x
expect "bucket too large" 1 "'99999' is not a token count from 1 to 16384" -- tune --arch host --head-dim 64 --buckets 99999
expect "reps not a number" 1 "--reps" -- tune --arch host --head-dim 64 --reps -3
expect "quick and full" 2 "excludes" -- tune --arch host --head-dim 64 --quick --full
expect "bad spec" 1 "head_dim" -- tune --arch host --head-dim 63
expect "arch before and after" 2 "--arch is given both before and after 'tune'" -- --arch host tune --arch host --head-dim 64
expect "flag before and after" 2 "--head-dim is given both before and after 'tune'" -- --head-dim 64 tune --head-dim 32
expect "a GPU target without its GPU" 1 "NVIDIA" -- tune --arch sm_90 --head-dim 64
expect "a GPU index without the GPU" 1 "no GPU 0 found" -- tune --device 0 --head-dim 64
expect "an action flag with tune" 2 "--verify does not act with 'tune'" -- --verify tune --arch host --head-dim 64

# A bundle carries the tuned plans of its specs: the record, the plans' code objects, all
# in the manifest.
out=$("$bin" bundle --arch host --head-dim 64 -o "$work/bundle" 2>&1); rc=$?
[ "$rc" -eq 0 ] && grep -qF "1 tuned-plans record and SHA256SUMS" <<<"$out" && ok || { fail "bundle with tuned plans: exit $rc"; echo "$out"; }
name=$(basename "$record")
[ -f "$work/bundle/$name" ] && cmp -s "$record" "$work/bundle/$name" && grep -qF "  $name" "$work/bundle/SHA256SUMS" &&
  (cd "$work/bundle" && sha256sum -c --quiet SHA256SUMS) && ok || fail "bundle lacks the record or its manifest line"
n=$(ls "$work/bundle"/*.rgco | wc -l)
[ "$n" -ge 2 ] && ok || fail "bundle holds $n code objects; the tuned plans' are missing"
# A bundle of a spec never tuned carries no record.
out=$("$bin" bundle --arch host --head-dim 128 -o "$work/bundle2" 2>&1)
grep -qF "1 code object and SHA256SUMS" <<<"$out" && ! ls "$work/bundle2"/*.rgtune >/dev/null 2>&1 && ok ||
  { fail "bundle of an untuned spec"; echo "$out"; }
# `cache list` shows the records; `cache verify` checks them.
expect "cache list shows records" 0 "tuned    host       host [1:" -- cache list
expect "cache stats counts records" 0 "tuned    2 tuned-plans records" -- cache stats
cp "$record" "$work/record.bak"
chmod 600 "$record"; printf '{"format": "ropegen-tuned-plans", "version": 1, "key": "k", "buckets": [{"tokens": 0' >"$record"
expect "cache verify finds a damaged record" 1 "INVALID $record: not JSON" -- cache verify
cp "$work/record.bak" "$record"
expect "cache verify passes again" 0 ", 0 invalid," -- cache verify
# `cache clear` removes records too.
expect "cache clear removes records" 0 "removed" -- cache clear
! ls "$work/cache"/*.rgtune >/dev/null 2>&1 && ok || fail "cache clear left a tuned-plans record"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
