#!/usr/bin/env python3
"""Checks that every dependency between source folders points down, and prints the layout.

The folders, bottom-up: a folder may include headers only from folders listed before it (its own
included). This is the order lib/CMakeLists.txt adds them in and README's "Layout" describes; an
include of a later folder (a cycle, or training reaching into a command) fails the check.

  python3 scripts/check-layout.py            # exit 1 on an upward include
  python3 scripts/check-layout.py --verbose  # also files per folder and the folder graph
"""
import collections
import pathlib
import re
import subprocess
import sys

ORDER = [
    "util", "tokenizer", "models", "lib/formats", "lib/metrics", "lib/schedule", "lib/data",
    "lib/report", "lib/sweep", "lib/tensors", "lib/io", "lib/generate", "lib/eval", "lib/train", "lib/serve",
    "app",
]
# LibTorch-free folders: no torch, ATen or c10 header (they build without LibTorch).
TORCH_FREE = {"util", "tokenizer", "lib/formats", "lib/metrics", "lib/schedule", "lib/data",
              "lib/report", "lib/sweep"}
INCLUDE = re.compile(r'\s*#\s*include\s+[<"]([^>"]+)[>"]')

root = pathlib.Path(__file__).resolve().parent.parent
files = subprocess.run(["git", "ls-files", "*.h", "*.cpp"], cwd=root, capture_output=True,
                       text=True, check=True).stdout.split()
rank = {folder: i for i, folder in enumerate(ORDER)}
problems = []
per_folder = collections.Counter()
edges = collections.Counter()
for name in files:
    folder = str(pathlib.PurePosixPath(name).parent)
    if folder not in rank:
        continue  # tests/, fuzz/, bench/ may include anything
    per_folder[folder] += 1
    for number, line in enumerate((root / name).read_text().splitlines(), 1):
        match = INCLUDE.match(line)
        if not match:
            continue
        header = match.group(1)
        target = str(pathlib.PurePosixPath(header).parent)
        if folder in TORCH_FREE and re.match(r"(torch|ATen|c10|caffe2)/", header):
            problems.append(f"{name}:{number}: {folder}/ is LibTorch-free, includes <{header}>")
        if target not in rank or target == folder:
            continue
        edges[(folder, target)] += 1
        if rank[target] > rank[folder]:
            problems.append(f"{name}:{number}: {folder}/ includes {header}, from a folder above "
                            f"it ({target}/); hint: move the shared code down, see README Layout")

if "--verbose" in sys.argv:
    print("files per folder:", ", ".join(f"{f} {per_folder[f]}" for f in ORDER))
    print(f"folder edges: {len(edges)} ({sum(edges.values())} includes)")
    for (a, b), n in sorted(edges.items(), key=lambda e: (rank[e[0][0]], rank[e[0][1]])):
        print(f"  {a} -> {b}: {n}")
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
