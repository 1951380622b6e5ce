#!/usr/bin/env python3
"""Builds the plain-text corpus used to pretrain the bundled starting model (assets/models/).

Standard library only. English sentences from the public datasets in shared/data: SST-2 train,
Multi30k train (en), CLINC150 train+val, Banking77 train, and Financial PhraseBank (50Agree)
minus every sentence of the demo's valid/test splits, so fine-tuning evaluation never sees
pretraining text. Deduplicated, shuffled with a fixed seed; the last 2,000 lines are the
validation file.

usage: python3 scripts/make_pretrain_corpus.py ../shared/data assets/data/financial_phrasebank OUT_DIR
"""
import csv
import gzip
import hashlib
import json
import sys
from pathlib import Path


def main() -> None:
    data, demo, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    held_out = set()
    for split in ("valid.csv", "test.csv"):
        with open(demo / split, encoding="utf-8", newline="") as f:
            held_out.update(row["text"].strip() for row in csv.DictReader(f))

    lines = []
    with open(data / "sst2" / "train.tsv", encoding="utf-8") as f:
        next(f)
        lines += [line.split("\t")[0] for line in f]
    with gzip.open(data / "multi30k" / "train.en.gz", "rt", encoding="utf-8") as f:
        lines += list(f)
    clinc = json.load(open(data / "clinc150" / "data_full_train_val.json", encoding="utf-8"))
    for split, rows in clinc.items():
        lines += [row[0] for row in rows]
    with open(data / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        lines += [row["text"] for row in csv.DictReader(f)]
    with open(data / "financial_phrasebank" / "Sentences_50Agree.txt", encoding="latin-1") as f:
        lines += [line.rsplit("@", 1)[0] for line in f]

    seen, corpus = set(), []
    for line in lines:
        text = " ".join(line.split())
        if text and text not in seen and text not in held_out:
            seen.add(text)
            corpus.append(text)
    corpus.sort(key=lambda t: hashlib.sha256(("ftune-pretrain:" + t).encode()).hexdigest())
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("\n".join(corpus[:-2000]) + "\n", encoding="utf-8")
    (out / "valid.txt").write_text("\n".join(corpus[-2000:]) + "\n", encoding="utf-8")
    print(f"{len(corpus) - 2000} training lines, 2000 validation lines -> {out}")


if __name__ == "__main__":
    main()
