#!/usr/bin/env bash
# Recommendations benchmark (bench/RESULTS.md, "Recommendations"), one
# process per configuration, RUNS alternating rounds:
#  * MovieLens-1M size: 6,040 users x 3,700 items, ~1 M ratings, every rating
#    a positive (positive-rating 1: ~750 k training interactions) and the
#    default threshold 4 (the planted structure at full strength);
#  * evaluation size: 6,000 users x 4,000 items.
# Models: popularity, BPR, the two-tower model and the ranker (which also reports the NDCG@10 of the
# two-tower model it re-ranks, on the same split), each with its defaults.
# Usage: bench/run_recs.sh [BUILD_DIR] [RUNS] [THREADS]
set -euo pipefail
build=${1:-build/release}
runs=${2:-3}
threads=${3:-2}
bin="$build/bench/recs_bench"
for r in $(seq 1 "$runs"); do
  for model in popularity bpr two-tower ranker; do
    echo "ml1m-size positive>=1 run $r: $("$bin" "$model" 6040 3700 166 1 "$threads")"
    echo "ml1m-size positive>=4 run $r: $("$bin" "$model" 6040 3700 166 4 "$threads")"
    echo "6000x4000 positive>=1 run $r: $("$bin" "$model" 6000 4000 60 1 "$threads")"
  done
done
