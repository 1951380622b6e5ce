#!/usr/bin/env python3
"""Financial PhraseBank (sentence@label, Latin-1) -> train/valid/test CSVs for the ftune demo.

Reads one `Sentences_*Agree.txt` file, drops exact duplicate lines, and splits it 80/10/10 per
label (stratified) with a fixed seed into UTF-8 CSV files with the header `text,label`. Python 3
standard library only; the same input gives byte-identical outputs on any machine and Python 3.x
(the split orders rows by SHA-256 of the seed and the line, not by `random`).

    python3 scripts/make_demo_data.py \
        ../shared/data/financial_phrasebank/Sentences_AllAgree.txt assets/data/financial_phrasebank

Writes train.csv, valid.csv and test.csv into the output folder and prints the row counts per
split and label (the table in that folder's README.md). Not a downloader: pass the source file.
"""

import argparse
import collections
import csv
import hashlib
import os
import sys

SEED = 20240611
LABELS = ("negative", "neutral", "positive")
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))


def read_phrasebank(path):
    """Returns [(sentence, label)] in file order without exact duplicate lines, and how many
    duplicates were dropped."""
    with open(path, encoding="latin-1", newline="") as f:
        raw = f.read()
    rows, seen, duplicates = [], set(), 0
    for number, line in enumerate(raw.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep or label not in LABELS or not sentence.strip():
            sys.exit(f"error: {path}:{number}: expected 'sentence@label' with label in "
                     f"{', '.join(LABELS)}, got {line[:80]!r}")
        if (sentence, label) in seen:
            duplicates += 1
            continue
        seen.add((sentence, label))
        rows.append((sentence, label))
    return rows, duplicates


def shuffle_key(row):
    return hashlib.sha256(f"{SEED}\t{row[0]}\t{row[1]}".encode("utf-8")).hexdigest()


def split_stratified(rows):
    """Per label: valid and test get round(10%) of its rows each, train the rest."""
    splits = {name: [] for name, _ in SPLITS}
    for label in LABELS:
        group = sorted((r for r in rows if r[1] == label), key=shuffle_key)
        n_valid = int(len(group) * 0.1 + 0.5)
        n_test = int(len(group) * 0.1 + 0.5)
        splits["valid"] += group[:n_valid]
        splits["test"] += group[n_valid:n_valid + n_test]
        splits["train"] += group[n_valid + n_test:]
    # Mix the labels within each split, so that a reader that does not shuffle still sees all.
    return {name: sorted(split, key=shuffle_key) for name, split in splits.items()}


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="Sentences_AllAgree.txt (or another *Agree.txt)")
    parser.add_argument("out_dir", help="folder for train.csv, valid.csv, test.csv")
    args = parser.parse_args()

    rows, duplicates = read_phrasebank(args.source)
    splits = split_stratified(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, _ in SPLITS:
        write_csv(os.path.join(args.out_dir, f"{name}.csv"), splits[name])

    print(f"{os.path.basename(args.source)}: {len(rows)} sentences "
          f"({duplicates} exact duplicate lines dropped)")
    print("| split | rows | " + " | ".join(LABELS) + " |")
    print("|---|---:|" + "---:|" * len(LABELS))
    for name, _ in SPLITS:
        counts = collections.Counter(label for _, label in splits[name])
        cells = " | ".join(str(counts[label]) for label in LABELS)
        print(f"| {name}.csv | {len(splits[name])} | {cells} |")


if __name__ == "__main__":
    main()
