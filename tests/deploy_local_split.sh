#!/usr/bin/env bash
# docs/deploy.md's "split deployment on one machine", run exactly as a
# reader pastes it (the blocks between <!-- test:local-split --> and
# <!-- /test:local-split -->, see tools/doc_test_lib.sh; WATERSHED_PORT is
# the first of the four ports it uses). The blocks end with load --verify
# through the query server (exit 1 on a mismatch) and stop every process.
#
# usage: tests/deploy_local_split.sh WATERSHED_BINARY
set -euo pipefail
bin="$(realpath "$1")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/watershed-split-test.XXXXXX)"
source "$repo/tools/doc_test_lib.sh"

run_doc_blocks "$repo/docs/deploy.md" local-split split
expect_output '^verify: [0-9]+ stories, .*: 0 mismatches$' "a clean verify through the query server"
expect_output '^lag: 0$' "status through the query server shows lag 0"
echo "deploy_local_split: passed"
