"""Named-entity quality side by side (issue #16): `ftune train --task ner` against the Hugging Face
Trainer with BertForTokenClassification as transformers' run_ner.py trains it (first sub-word
labelled, DataCollatorForTokenClassification, seqeval), on WNUT-17 from ../shared/data, the same
pretrained model files, splits, hyper-parameters and max length, several seeds each: mean +- std
of the test entity F1 (seqeval's micro average, default mode; strict IOB2 mode too), precision,
recall, and seconds per epoch.

Split: ../shared/data/wnut17/train.conll cut 90/10 (seed 0) into train/valid; dev.conll is the
test set (WNUT-17's gold test set is not in ../shared). Both trainers: AdamW, linear schedule
with warmup ratio 0.1, weight decay 0.01, early stopping (patience 2) on validation F1 evaluated
each epoch, the best checkpoint tested. Both are scored the same way: one tag per word of the test
file (a word the tokenizer drops gets "O"; none is truncated at max length 128 here), seqeval over
all words. (run_ner's own compute_metrics drops such words; it would score HF a little higher on
noisy text.)

Run with a Python that has torch, transformers and seqeval (the torch venv of
scripts/install-torch2.sh), from the repository root:

    python bench/ner_quality.py --model ~/.cache/ftune/models/all-MiniLM-L6-v2 --seeds 42 43 44

Appends every run to WORKDIR/results.jsonl (a rerun skips the runs already there) with the load
(os.getloadavg) and prints a markdown table.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WNUT = os.path.join(ROOT, "..", "shared", "data", "wnut17")


def read_conll(path):
    sentences, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        columns = line.split()
        if not columns:
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        words.append(columns[0])
        tags.append(columns[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def write_conll(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in sentences:
            for word, tag in zip(words, tags):
                f.write(f"{word}\t{tag}\n")
            f.write("\n")


def load_data():
    train = read_conll(os.path.join(WNUT, "train.conll"))
    random.Random(0).shuffle(train)
    cut = int(round(0.9 * len(train)))
    return {"train": train[:cut], "valid": train[cut:],
            "test": read_conll(os.path.join(WNUT, "dev.conll"))}


def seqeval_scores(gold, predicted):
    from seqeval.metrics import accuracy_score, classification_report
    from seqeval.scheme import IOB2
    default = classification_report(gold, predicted, output_dict=True, zero_division=0)
    strict = classification_report(gold, predicted, output_dict=True, zero_division=0,
                                   mode="strict", scheme=IOB2)
    return {"f1": default["micro avg"]["f1-score"],
            "precision": default["micro avg"]["precision"],
            "recall": default["micro avg"]["recall"],
            "strict_f1": strict["micro avg"]["f1-score"],
            "accuracy": accuracy_score(gold, predicted)}


def run_ftune(args, files, data, seed, out):
    common = ["--threads", str(args.threads)]
    subprocess.run([args.ftune, *common, "train", "--task", "ner", "--model", args.model,
                    "--train", files["train"], "--valid", files["valid"], "--output-dir", out,
                    "--overwrite-output-dir", "--epochs", str(args.epochs), "--batch-size",
                    str(args.batch_size), "--learning-rate", str(args.learning_rate),
                    "--warmup-ratio", "0.1", "--weight-decay", "0.01",
                    "--early-stopping-patience", "2", "--save-total-limit", "2",
                    "--max-length", str(args.max_length), "--seed", str(seed)],
                   check=True, stderr=subprocess.DEVNULL)
    summary = [json.loads(l) for l in open(os.path.join(out, "trainer_log.jsonl"))
               if "train_runtime" in l][-1]
    predictions = os.path.join(out, "test_predictions.jsonl")
    subprocess.run([args.ftune, *common, "predict", "--model", os.path.join(out, "best"),
                    "--data", files["test"], "--output", predictions,
                    "--max-length", str(args.max_length)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    predicted = [json.loads(l)["tags"] for l in open(predictions, encoding="utf-8")]
    return {**seqeval_scores([tags for _, tags in data["test"]], predicted),
            "seconds_per_epoch": summary["train_runtime"] / summary["epoch"]}


def run_hf(args, data, seed, out):
    import numpy as np
    import torch
    from transformers import (AutoModelForTokenClassification, AutoTokenizer,
                              DataCollatorForTokenClassification, EarlyStoppingCallback, Trainer,
                              TrainingArguments)
    torch.set_num_threads(args.threads)
    labels = sorted({t for _, tags in data["train"] for t in tags})
    label2id = {l: i for i, l in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    class Sentences(torch.utils.data.Dataset):
        """run_ner's tokenize_and_align_labels (label_all_tokens False)."""

        def __init__(self, sentences):
            self.items, self.word_ids = [], []
            for words, tags in sentences:
                item = tokenizer(words, is_split_into_words=True, truncation=True,
                                 max_length=args.max_length)
                word_ids, previous, row = item.word_ids(), None, []
                for w in word_ids:
                    row.append(-100 if w is None or w == previous
                               else label2id.get(tags[w], label2id["O"]))
                    previous = w
                item["labels"] = row
                self.items.append(dict(item))
                self.word_ids.append(word_ids)

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    def word_tags(logits, dataset, sentences):
        """One tag per word: argmax at its first sub-word; "O" for a word without one."""
        out = []
        for b, (words, _) in enumerate(sentences):
            tags, seen = ["O"] * len(words), set()
            for t, w in enumerate(dataset.word_ids[b]):
                if w is not None and w not in seen:
                    seen.add(w)
                    tags[w] = labels[int(np.argmax(logits[b][t]))]
            out.append(tags)
        return out

    model = AutoModelForTokenClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    valid = Sentences(data["valid"])

    def compute_metrics(prediction):
        predicted = word_tags(prediction.predictions, valid, data["valid"])
        return {"f1": seqeval_scores([t for _, t in data["valid"]], predicted)["f1"]}

    training = TrainingArguments(
        output_dir=out, overwrite_output_dir=True, learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
        num_train_epochs=args.epochs, warmup_ratio=0.1, weight_decay=0.01,
        eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
        metric_for_best_model="f1", save_total_limit=2, seed=seed, report_to=[], use_cpu=True,
        logging_steps=50, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=training, train_dataset=Sentences(data["train"]),
                      eval_dataset=valid, data_collator=DataCollatorForTokenClassification(tokenizer),
                      compute_metrics=compute_metrics,
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    result = trainer.train()
    test = Sentences(data["test"])
    predicted = word_tags(trainer.predict(test).predictions, test, data["test"])
    epochs = result.metrics.get("epoch", args.epochs)
    return {**seqeval_scores([t for _, t in data["test"]], predicted),
            "seconds_per_epoch": result.metrics["train_runtime"] / epochs}


def table(results):
    rows = ["| trainer | runs | test F1 | strict F1 | precision | recall | s/epoch |",
            "|---|---|---|---|---|---|---|"]
    for trainer in ("ftune", "hf"):
        runs = [r for r in results if r["trainer"] == trainer]
        if not runs:
            continue

        def cell(key, digits=3):
            values = [r[key] for r in runs]
            if len(values) == 1:
                return f"{values[0]:.{digits}f}"
            return f"{statistics.mean(values):.{digits}f}±{statistics.stdev(values):.{digits}f}"
        rows.append(f"| {trainer} | {len(runs)} | {cell('f1')} | {cell('strict_f1')} | "
                    f"{cell('precision')} | {cell('recall')} | {cell('seconds_per_epoch', 1)} |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face model folder (both trainers)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--trainers", nargs="+", default=["ftune", "hf"])
    parser.add_argument("--ftune", default=os.path.join(ROOT, "build", "ftune"))
    parser.add_argument("--workdir", default="/tmp/ftune-ner-quality")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results_file = os.path.join(args.workdir, "results.jsonl")
    results = [json.loads(l) for l in open(results_file)] if os.path.exists(results_file) else []
    if not args.table_only:
        data = load_data()
        files = {}
        for name in ("train", "valid", "test"):
            files[name] = os.path.join(args.workdir, f"wnut17-{name}.conll")
            write_conll(files[name], data[name])
        for seed in args.seeds:
            for trainer in args.trainers:
                if any(r["trainer"] == trainer and r["seed"] == seed for r in results):
                    continue
                out = os.path.join(args.workdir, f"{trainer}-{seed}")
                load = os.getloadavg()[0]
                start = time.time()
                run = run_ftune(args, files, data, seed, out) if trainer == "ftune" \
                    else run_hf(args, data, seed, out)
                result = {"trainer": trainer, "seed": seed, **run,
                          "wall_seconds": time.time() - start, "load_before": load,
                          "threads": args.threads, "epochs": args.epochs,
                          "learning_rate": args.learning_rate, "batch_size": args.batch_size}
                results.append(result)
                with open(results_file, "a") as f:
                    f.write(json.dumps(result) + "\n")
                print(json.dumps(result), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
