# Sourced by the recs CLI tests: $bin is the watershed binary, fail() reports and exits.

expect_error() {  # expect_error CODE TEXT ARGS...: exit code CODE and TEXT on stderr
  local code=$1 text=$2
  shift 2
  set +e
  err=$("$bin" "$@" 2>&1 >/dev/null)
  got=$?
  set -e
  [[ $got == "$code" ]] || fail "$* exited $got, wanted $code ($err)"
  [[ $err == *"$text"* ]] || fail "$*: wanted '$text' in: $err"
}
