#!/usr/bin/python3
"""An independent oracle for src/recs/metrics.cc (metrics_test.cc): reads
cases, one per line "K;labels;scores" (comma-separated), and prints for each
"auc ndcg@K" from scikit-learn's roc_auc_score and ndcg_score."""
import sys

import numpy as np
from sklearn.metrics import ndcg_score, roc_auc_score

for line in open(sys.argv[1]):
    k, labels, scores = line.strip().split(";")
    y = np.array([int(v) for v in labels.split(",")])
    s = np.array([float(v) for v in scores.split(",")])
    auc = roc_auc_score(y, s)
    ndcg = ndcg_score([y], [s], k=int(k))
    print(f"{auc:.17g} {ndcg:.17g}")
