"""An independent oracle of src/recs/experiment_stats.cc: SciPy's Welch t-test, Student t and chi-square.

Reads a file of cases, one a line, and prints one result line per case:
  welch A1,A2,... B1,B2,...   -> t df p lo hi   (scipy.stats.ttest_ind(b, a, equal_var=False); the 95 % interval
                                                 of mean(b) - mean(a) from the same standard error and df)
  tcdf T DF                   -> P(T <= t)
  tq P DF                     -> the P-quantile
  chi2 X DF                   -> P(X >= x)
"""
import math
import sys

from scipy import stats


def welch(a, b):
    res = stats.ttest_ind(b, a, equal_var=False)
    va, vb = stats.tvar(a) / len(a), stats.tvar(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff = sum(b) / len(b) - sum(a) / len(a)
    q = stats.t.ppf(0.975, df)
    return [res.statistic, df, res.pvalue, diff - q * se, diff + q * se]


def main(path):
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            kind, args = words[0], words[1:]
            if kind == "welch":
                a = [float(x) for x in args[0].split(",")]
                b = [float(x) for x in args[1].split(",")]
                out = welch(a, b)
            elif kind == "tcdf":
                out = [stats.t.cdf(float(args[0]), float(args[1]))]
            elif kind == "tq":
                out = [stats.t.ppf(float(args[0]), float(args[1]))]
            elif kind == "chi2":
                out = [stats.chi2.sf(float(args[0]), float(args[1]))]
            else:
                raise SystemExit("unknown case " + kind)
            print(" ".join(repr(float(x)) for x in out))


if __name__ == "__main__":
    main(sys.argv[1])
