#!/usr/bin/env bash
# Runs one fuzzer for its short CTest run (fuzz/CMakeLists.txt) and keeps a
# failure readable: libFuzzer's progress lines (thousands) go to a log file
# beside the binary; on failure this prints the crash report and the input
# that caused it, so a CI log cut to its head and tail still shows both.
# usage: run_short.sh FUZZER ARTIFACT_DIR [libFuzzer args...]
set -uo pipefail
fuzzer="$1" artifacts="$2"
shift 2
name="$(basename "$fuzzer")"
mkdir -p "$artifacts"
log="$artifacts/$name.log"
"$fuzzer" -artifact_prefix="$artifacts/$name-" "$@" >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
  grep -E '^(Done|INFO: Seed)' "$log"
  exit 0
fi
echo "$name failed (exit $rc); full log: $log"
grep -m1 'INFO: Seed' "$log"
# The report starts at the first sanitizer, trap or libFuzzer error line.
start=$(grep -n -m1 -E '^==[0-9]+==|deadly signal|ERROR: libFuzzer|runtime error|out-of-memory|timeout' "$log" | cut -d: -f1)
if [ -n "$start" ]; then sed -n "$((start > 5 ? start - 5 : 1)),$((start + 80))p" "$log"; else tail -n 60 "$log"; fi
for f in "$artifacts/$name"-*; do
  [ -f "$f" ] && [ "$f" != "$log" ] || continue
  echo "--- input $f ($(stat -c %s "$f") bytes), hex:"
  head -c 4096 "$f" | od -A d -t x1z | head -n 300
done
exit $rc
