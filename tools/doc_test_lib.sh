# Runs a Markdown file's marked ```sh blocks (tools/doc_blocks.py) the way a
# reader pastes them: in one shell, from a directory where
# build/release/src/app/watershed is the binary under test, with
# WATERSHED_PORT set to a free port and no WATERSHED_TOKEN/SERVER, in a
# process group of their own (so whatever they start in the background is
# killed if they fail), under a timeout. Sourced by tests/readme_tour.sh and
# tests/deploy_local_split.sh; expects $bin, $repo and $work.
source "$repo/tools/test_servers.sh"
doc_group="" doc_scratch_var="" doc_out="$work/out.txt"

doc_cleanup() {
  [ -n "$doc_group" ] && kill -9 -- "-$doc_group" 2>/dev/null
  # The blocks make their scratch directory with mktemp; its name is the
  # last thing they print.
  local dir
  dir=$(sed -n 's/^doc-scratch=//p' "$doc_out" 2>/dev/null | tail -1)
  case "$dir" in /tmp/watershed-*) rm -rf "$dir" ;; esac
  rm -rf "$work"
}
trap doc_cleanup EXIT

doc_fail() {
  echo "$(basename "$0"): FAILED: $*"
  echo "--- what the blocks printed"; cat "$doc_out"
  local dir
  dir=$(sed -n 's/^doc-scratch=//p' "$doc_out" | tail -1)
  for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }; done
  exit 1
}

# Fails unless a line of the output matches the extended regex.
expect_output() {  # REGEX WHAT
  grep -qE -- "$1" "$doc_out" || doc_fail "$2 (no line matches $1)"
}

# Runs the blocks; fails if one of them fails. SCRATCH_VARIABLE names the
# shell variable holding the blocks' mktemp directory.
run_doc_blocks() {  # MARKDOWN NAME SCRATCH_VARIABLE
  mkdir -p "$work/root/build/release/src/app"
  ln -sf "$bin" "$work/root/build/release/src/app/watershed"
  {
    echo 'set -e'
    echo "trap 'echo \"doc-scratch=\$$3\"' EXIT"
    python3 "$repo/tools/doc_blocks.py" "$1" "$2"
  } >"$work/blocks.sh"
  pick_port
  export WATERSHED_PORT=$port
  unset WATERSHED_TOKEN WATERSHED_SERVER
  (cd "$work/root" && exec setsid timeout 400 bash "$work/blocks.sh") >"$doc_out" 2>&1 &
  doc_group=$!
  local status=0
  wait "$doc_group" || status=$?
  [ "$status" -eq 0 ] || doc_fail "the blocks exited $status"
  # Whatever the blocks started and did not stop is still in their group.
  if pgrep -g "$doc_group" >/dev/null; then doc_fail "processes the blocks started still run"; fi
  doc_group=""
}
