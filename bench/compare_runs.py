"""Do repeated ``xpgrad bench --json`` runs agree?

    python bench/compare_runs.py run1.json run2.json [run3.json ...]

For every case and baseline, each pair of runs must either give ratios
whose spreads overlap, or at least one of the two must carry the '?' flag
(spread too wide, or too few rounds). The script lists the
pairs that do neither and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's xpgrad

from xpgrad.bench.timing import Ratio  # noqa: E402


def _key(r: dict) -> tuple:
    return (r["op"], r["kind"], r["shape"], r["dtype"], r["device"])


def compare(runs: list) -> tuple[dict, list]:
    """``(counts, disagreements)`` over every (case, baseline) and pair of runs.

    ``counts`` has ``overlap``, ``flagged`` (no overlap, but a flag) and
    ``disagree``; each disagreement is ``(case key, baseline, Ratio a, Ratio b)``.
    The flags are recomputed with this checkout's thresholds.
    """
    by_case = [{_key(r): {name: Ratio(d["median"], d["low"], d["high"], d["rounds"])
                          for name, d in r["ratios"].items()}
                for r in run["results"]} for run in runs]
    counts = {"overlap": 0, "flagged": 0, "disagree": 0}
    bad = []
    for key in by_case[0]:
        for baseline in by_case[0][key]:
            found = [c[key][baseline] for c in by_case if baseline in c.get(key, {})]
            for a, b in itertools.combinations(found, 2):
                if a.overlaps(b):
                    counts["overlap"] += 1
                elif a.flag or b.flag:
                    counts["flagged"] += 1
                else:
                    counts["disagree"] += 1
                    bad.append((key, baseline, a, b))
    return counts, bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="JSON files written by xpgrad bench --json")
    args = p.parse_args(argv)
    runs = []
    for path in args.runs:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    counts, bad = compare(runs)
    total = sum(len(res["ratios"]) for run in runs for res in run["results"])
    print(f"{len(runs)} runs, {total} ratios")
    print(f"pairs of runs per case and baseline: {counts['overlap']} overlap, "
          f"{counts['flagged']} do not but carry a flag, {counts['disagree']} disagree")
    for key, baseline, a, b in bad:
        print(f"  x {baseline:6} {' '.join(key)}: {a.median:.3g} [{a.low:.3g}, {a.high:.3g}] "
              f"vs {b.median:.3g} [{b.low:.3g}, {b.high:.3g}]")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
