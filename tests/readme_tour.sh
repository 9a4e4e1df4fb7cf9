#!/usr/bin/env bash
# The README's "five-minute tour", run exactly as a reader pastes it (the
# blocks between <!-- test:tour --> and <!-- /test:tour -->, see
# tools/doc_test_lib.sh); then the outcomes the README promises are checked
# in what the blocks printed.
#
# usage: tests/readme_tour.sh WATERSHED_BINARY
set -euo pipefail
bin="$(realpath "$1")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/watershed-readme-tour.XXXXXX)"
source "$repo/tools/doc_test_lib.sh"

run_doc_blocks "$repo/README.md" tour ws
expect_output '^\{"accepted":2,"rejected":\[\]\}$' "the two events are accepted"
expect_output '"story_id":500042,.*"views":1,"unique_viewers":1,"watch_time_ms":5400,"shares":1,"replies":0' \
  "the creator reads the story's metrics"
expect_output '"code":"not_own_creator"' "another creator's top list is refused"
expect_output '"code":"invalid_event_id"' "the bad event is refused with its reason"
expect_output '^lag: 0$' "status shows lag 0"
expect_output '^(# (HELP|TYPE) )?watershed_[a-z_]+' "/metrics answers in the Prometheus format"
expect_output '^verify: [0-9]+ stories, .*: 0 mismatches$' "load --verify finds no mismatch"
expect_output 'raw_events|events' "lake compact --dry-run names the tables"
echo "readme_tour: passed"
