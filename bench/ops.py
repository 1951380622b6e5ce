#!/usr/bin/env python3
"""Where ftune's training time goes, operation by operation, and how each one scales with threads.

Reads Chrome traces written by `ftune train --profile-trace FILE` (LibTorch's profiler: every op
of the training loop on the main thread, with its start and duration) and prints, per op name,
its self time (its duration minus the ops it called) summed over the run after the first
--skip fraction (warm-up). Given two traces (e.g. the same run at --threads 1 and 2), prints
both columns and their ratio: ops near 1.0x did not get faster with the second thread.

  ftune --threads 1 train ... --max-steps 33 --profile-trace t1.json
  ftune --threads 2 train ... --max-steps 33 --profile-trace t2.json
  python3 bench/ops.py t1.json t2.json

The profiler adds a few microseconds per op, so absolute times run above a plain run's; compare
traces with each other, not with trainer_log.jsonl. Ops that ftune runs outside LibTorch's
dispatcher (the fused AdamW loop, the attention products' CBLAS calls on LibTorch 1.13) show up
only inside their callers' self time, or not at all.
"""
import argparse
import collections
import json


def self_times(path, skip):
    events = [e for e in json.load(open(path)) if e.get("ph") == "X"]
    events.sort(key=lambda e: (e["tid"], e["ts"], -e["dur"]))
    start = min(e["ts"] for e in events)
    end = max(e["ts"] + e["dur"] for e in events)
    cut = start + (end - start) * skip
    total, calls = collections.Counter(), collections.Counter()
    stack, tid = [], None  # enclosing ops of the current one: (start, duration, name)
    for e in events:
        if e["tid"] != tid:
            stack, tid = [], e["tid"]
        while stack and stack[-1][0] + stack[-1][1] <= e["ts"]:
            stack.pop()
        if e["ts"] >= cut:
            total[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            if stack:
                total[stack[-1][2]] -= e["dur"]
        stack.append((e["ts"], e["dur"], e["name"]))
    return total, calls, end - cut


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+", help="one or two --profile-trace files")
    p.add_argument("--skip", type=float, default=0.15, help="leading fraction of the run left out")
    p.add_argument("--top", type=int, default=30)
    a = p.parse_args()
    runs = [self_times(t, a.skip) for t in a.traces[:2]]
    first = runs[0][0]
    print("| op | calls | " + " | ".join("self ms (%s)" % t for t in a.traces[:2]) +
          (" | ratio |" if len(runs) == 2 else " |"))
    print("|---|---|" + "---|" * len(runs) + ("---|" if len(runs) == 2 else ""))
    for name in sorted(first, key=lambda n: -first[n])[:a.top]:
        cells = ["%.1f" % (r[0][name] / 1000) for r in runs]
        ratio = " | %.2fx" % (first[name] / max(runs[1][0][name], 1)) if len(runs) == 2 else ""
        print("| %s | %d | %s%s |" % (name, runs[0][1][name], " | ".join(cells), ratio))
    for path, (total, _, window) in zip(a.traces, runs):
        print("# %s: %.0f ms of ops in a %.0f ms window" % (path, sum(total.values()) / 1000,
                                                          window / 1000))


if __name__ == "__main__":
    main()
