"""Quality side by side on held-out test sets (issue #15): ftune against the Hugging Face Trainer
(a current transformers from PyPI) fine-tuning the same pretrained model files on the same splits
with the same hyper-parameters and max length, several seeds each (mean +- std of test accuracy
and macro F1, and seconds per epoch), plus TF-IDF + LogisticRegression (scikit-learn, bigrams,
C=10) as the floor a fine-tuned model must clear.

Run with a Python that has torch, transformers and scikit-learn (the torch venv of
scripts/install-torch2.sh, plus `pip install transformers scikit-learn`), from the repository root:

    python bench/quality.py --model ~/.cache/ftune/models/all-MiniLM-L6-v2 \
        --datasets phrasebank banking77 --seeds 42 43 44 --threads 2

Datasets (public, ../shared/data; their test splits are held out there, so where a dataset has
no test split here one is cut with seed 0 and said so):
  phrasebank  the bundled assets/data/financial_phrasebank train/valid/test split
  banking77   shared train.csv cut 80/10/10 (train/valid/test)
  clinc150    the 150 in-scope intents: shared train, cut 90/10 into train/valid; shared val as test
  sst2        8,000 train + 1,000 valid sampled from shared train.tsv; shared dev.tsv as test
  mrpc        sentence pairs: shared train.tsv cut 90/10 into train/valid; shared dev.tsv as test
  phrasebank_imbalanced  the bundled split with 4 in 5 negative training rows left out (issue
              #16: run it with --trainers ftune ftune_balanced to see what class weights give)
Both trainers: AdamW, linear schedule, --epochs with early stopping (patience 2) on validation
macro F1 evaluated each epoch, the best checkpoint tested. Appends every run to
WORKDIR/results.jsonl and prints a markdown table; the load (os.getloadavg) is recorded per run.
Runs go seed by seed (every dataset's seed 42 first); a rerun with the same --workdir, --epochs
and --learning-rate skips the runs already in results.jsonl, so an interrupted measurement
continues where it stopped. --table-only prints the table of what results.jsonl holds.
Trainers: ftune, hf, tfidf, and ftune_balanced (ftune with --class-weights balanced).
"""
import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def split(rows, fractions, seed=0):
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    out, start = [], 0
    for fraction in fractions[:-1]:
        end = start + int(round(fraction * len(rows)))
        out.append(rows[start:end])
        start = end
    out.append(rows[start:])
    return out


def read_csv(path, text="text", label="label", pair=None, delimiter=","):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t"
                                else csv.QUOTE_MINIMAL)
        return [{"text": r[text], "text_pair": r[pair] if pair else None, "label": str(r[label])}
                for r in reader]


def load_dataset(name):
    """{"train": rows, "valid": rows, "test": rows, "note": str}; a row is text, text_pair, label."""
    if name == "phrasebank":
        folder = os.path.join(ROOT, "assets", "data", "financial_phrasebank")
        parts = {s: read_csv(os.path.join(folder, f"{s}.csv")) for s in ("train", "valid", "test")}
        return {**parts, "note": "bundled split"}
    if name == "phrasebank_imbalanced":
        # Issue #16's imbalanced case: the bundled split with 4 of every 5 negative training
        # sentences left out (seed 0), so that negative is a rare class; valid/test unchanged.
        folder = os.path.join(ROOT, "assets", "data", "financial_phrasebank")
        parts = {s: read_csv(os.path.join(folder, f"{s}.csv")) for s in ("train", "valid", "test")}
        rng = random.Random(0)
        parts["train"] = [r for r in parts["train"] if r["label"] != "negative" or rng.random() < 0.2]
        return {**parts, "note": "bundled split, train negatives cut to 1 in 5"}
    if name == "banking77":
        rows = read_csv(os.path.join(SHARED, "banking77", "train.csv"), label="category")
        train, valid, test = split(rows, [0.8, 0.1, 0.1])
        return {"train": train, "valid": valid, "test": test, "note": "train.csv cut 80/10/10"}
    if name == "clinc150":
        data = json.load(open(os.path.join(SHARED, "clinc150", "data_full_train_val.json")))
        rows = [{"text": t, "text_pair": None, "label": l} for t, l in data["train"]]
        train, valid = split(rows, [0.9, 0.1])
        test = [{"text": t, "text_pair": None, "label": l} for t, l in data["val"]]
        return {"train": train, "valid": valid, "test": test, "note": "val as test (in-scope)"}
    if name == "sst2":
        rows = read_csv(os.path.join(SHARED, "sst2", "train.tsv"), text="sentence", delimiter="\t")
        train, valid, _ = split(rows, [8000 / len(rows), 1000 / len(rows), 1.0])
        test = read_csv(os.path.join(SHARED, "sst2", "dev.tsv"), text="sentence", delimiter="\t")
        return {"train": train, "valid": valid, "test": test, "note": "8k/1k of train; dev as test"}
    if name == "mrpc":
        def read(path):
            return read_csv(path, text="#1 String", pair="#2 String", label="Quality",
                            delimiter="\t")
        train, valid = split(read(os.path.join(SHARED, "mrpc", "train.tsv")), [0.9, 0.1])
        test = read(os.path.join(SHARED, "mrpc", "dev.tsv"))
        return {"train": train, "valid": valid, "test": test, "note": "train cut 90/10; dev as test"}
    raise SystemExit(f"unknown dataset {name}")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            line = {"text": r["text"], "label": r["label"]}
            if r["text_pair"] is not None:
                line["text_pair"] = r["text_pair"]
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def scores(gold, predicted):
    from sklearn.metrics import accuracy_score, f1_score
    return {"accuracy": accuracy_score(gold, predicted),
            "macro_f1": f1_score(gold, predicted, average="macro")}


def run_tfidf(data):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def text(r):
        return r["text"] if r["text_pair"] is None else r["text"] + " [SEP] " + r["text_pair"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform([text(r) for r in data["train"] + data["valid"]])
    y = [r["label"] for r in data["train"] + data["valid"]]
    model = LogisticRegression(C=10, max_iter=3000).fit(x, y)
    predicted = model.predict(vectorizer.transform([text(r) for r in data["test"]]))
    return scores([r["label"] for r in data["test"]], list(predicted))


def run_ftune(args, data, files, seed, out, extra=()):
    command = [args.ftune, "--threads", str(args.threads), "train", "--model", args.model,
               "--train", files["train"], "--valid", files["valid"], "--output-dir", out,
               "--overwrite-output-dir", "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--learning-rate", str(args.learning_rate), "--warmup-ratio",
               str(args.warmup_ratio), "--weight-decay", str(args.weight_decay),
               "--early-stopping-patience", "2", "--save-total-limit", "2", "--max-length",
               str(args.max_length), "--seed", str(seed), *extra]
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    summary = [json.loads(l) for l in open(os.path.join(out, "trainer_log.jsonl"))
               if "train_runtime" in l][-1]
    report = os.path.join(out, "test_report.json")
    subprocess.run([args.ftune, "--threads", str(args.threads), "eval", "--model",
                    os.path.join(out, "best"), "--data", files["test"], "--report-json", report],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = json.load(open(report))["metrics"]
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["f1_macro"],
            "seconds_per_epoch": summary["train_runtime"] / summary["epoch"]}


def hf_setup(model, data, threads, max_length):
    """What the HF Trainer runs here (this file and sweep.py) share: torch's threads, the sorted
    label list and its ids, the model's tokenizer, and encode(rows) -> a list of tokenized items
    with their label ids (a list is a dataset the Trainer indexes)."""
    import torch
    from transformers import AutoTokenizer
    torch.set_num_threads(threads)
    labels = sorted({r["label"] for r in data["train"]})
    label2id = {l: i for i, l in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(model)

    def encode(rows):
        items = []
        for r in rows:
            item = tokenizer(r["text"], r["text_pair"], truncation=True, max_length=max_length)
            item["labels"] = label2id[r["label"]]
            items.append(item)
        return items
    return labels, label2id, tokenizer, encode


def hf_compute_metrics(prediction):
    """Trainer's compute_metrics: accuracy and macro F1 of the argmax."""
    import numpy as np
    predicted = np.argmax(prediction.predictions, axis=-1)
    return scores(prediction.label_ids.tolist(), predicted.tolist())


def run_hf(args, data, seed, out):
    import numpy as np
    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding,
                              EarlyStoppingCallback, Trainer, TrainingArguments)
    labels, label2id, tokenizer, encode = hf_setup(args.model, data, args.threads,
                                                   args.max_length)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

    training = TrainingArguments(
        output_dir=out, overwrite_output_dir=True, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
        num_train_epochs=args.epochs, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, eval_strategy="epoch", save_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="macro_f1", save_total_limit=2,
        seed=seed, report_to=[], use_cpu=True, logging_steps=50, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=training, train_dataset=encode(data["train"]),
                      eval_dataset=encode(data["valid"]), data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=hf_compute_metrics,
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    result = trainer.train()
    test = trainer.predict(encode(data["test"]))
    predicted = np.argmax(test.predictions, axis=-1).tolist()
    epochs = result.metrics.get("epoch", args.epochs)
    return {**scores(test.label_ids.tolist(), predicted),
            "seconds_per_epoch": result.metrics["train_runtime"] / epochs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face model folder (both trainers)")
    parser.add_argument("--datasets", nargs="+", default=["phrasebank"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--trainers", nargs="+", default=["ftune", "hf", "tfidf"])
    parser.add_argument("--ftune", default=os.path.join(ROOT, "build", "ftune"))
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                          "ftune-quality"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--table-only", action="store_true",
                        help="print the table of WORKDIR/results.jsonl and run nothing")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results_file = os.path.join(args.workdir, "results.jsonl")
    if not args.table_only:
        run_all(args, results_file)
    print_table(args, results_file)


def run_all(args, results_file):
    """Seed by seed, and within a seed dataset by dataset, ftune and HF one after the other: an
    interrupted run still leaves every dataset with its first seeds, and both trainers see the
    same machine load."""
    datasets, files = {}, {}
    for name in args.datasets:
        datasets[name] = load_dataset(name)
        files[name] = {}
        for part in ("train", "valid", "test"):
            files[name][part] = os.path.join(args.workdir, f"{name}-{part}.jsonl")
            write_jsonl(files[name][part], datasets[name][part])
    jobs = [(name, "tfidf", 0) for name in args.datasets if "tfidf" in args.trainers]
    jobs += [(name, trainer, seed) for seed in args.seeds for name in args.datasets
             for trainer in args.trainers if trainer != "tfidf"]
    done = set()
    if os.path.exists(results_file):  # a rerun after an interruption continues where it stopped
        for line in open(results_file):
            r = json.loads(line)
            if r.get("epochs") == args.epochs and r.get("learning_rate") == args.learning_rate:
                done.add((r["dataset"], r["trainer"], r["seed"]))
    for name, trainer, seed in jobs:
        if (name, trainer, seed) in done:
            continue
        data = datasets[name]
        load = os.getloadavg()[0]
        started = time.time()
        out = os.path.join(args.workdir, f"{name}-{trainer}-{seed}")
        if trainer == "ftune":
            result = run_ftune(args, data, files[name], seed, out)
        elif trainer == "ftune_balanced":
            result = run_ftune(args, data, files[name], seed, out, ["--class-weights", "balanced"])
        elif trainer == "hf":
            result = run_hf(args, data, seed, out)
        else:
            result = run_tfidf(data)
        record = {"dataset": name, "trainer": trainer, "seed": seed, **result,
                  "wall_seconds": time.time() - started, "load_before": load,
                  "threads": args.threads, "epochs": args.epochs,
                  "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                  "note": data["note"]}
        with open(results_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), file=sys.stderr, flush=True)


def print_table(args, results_file):
    records = [json.loads(l) for l in open(results_file)] if os.path.exists(results_file) else []
    names = {"ftune": "ftune", "ftune_balanced": "ftune --class-weights balanced",
             "hf": "HF Trainer", "tfidf": "TF-IDF + LR"}
    print("| dataset | trainer | runs | test accuracy | test macro F1 | s/epoch |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        for trainer in args.trainers:
            runs = [r for r in records if r["dataset"] == name and r["trainer"] == trainer
                    and (trainer == "tfidf" or r["seed"] in args.seeds)]
            if not runs:
                continue

            def stat(key):
                values = [r[key] for r in runs if key in r]
                if not values:
                    return "-"
                if len(values) == 1:
                    return f"{values[0]:.4f}"
                return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
            print(f"| {name} | {names[trainer]} | {len(runs)} | {stat('accuracy')} | "
                  f"{stat('macro_f1')} | {stat('seconds_per_epoch')} |")

if __name__ == "__main__":
    main()
