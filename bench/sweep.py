"""Hyper-parameter search on real data (issue #24): `ftune sweep` against the Hugging Face
Trainer's `hyperparameter_search` (Optuna backend) on the same search space, trial budget,
epochs and pruning rule, and the sweep's best setting against the README's defaults on the
held-out test split over several seeds.

Run with the torch venv's Python (torch, transformers, scikit-learn, optuna), from the
repository root:

    python bench/sweep.py --model ~/.cache/ftune/models/all-MiniLM-L6-v2 \
        --datasets phrasebank banking77 --trials 8 --seeds 42 43 44 --threads 2

Parts (--parts, each resumable: what WORKDIR/results.jsonl holds is not rerun):
  ftune-sweep  `ftune --threads T sweep --parallel P --successive-halving 3` on train/valid;
               its best trial's model is then evaluated on test
  hf-sweep     Trainer.hyperparameter_search(backend="optuna", n_trials=N) with Optuna's
               RandomSampler and SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
               reported once per epoch, so its rungs are the 1st, 3rd, 9th ... evaluation like
               ftune's; each trial's objective is its best validation macro F1 so far (the
               checkpoint load_best_model_at_end keeps), as ftune ranks trials
  test         ftune train with the README's defaults and with ftune-sweep's best.toml, once
               per --seed each, the best checkpoint evaluated on test
Both sweeps search learning-rate loguniform(2e-5, 5e-4), batch-size [16, 32], warmup-ratio
uniform(0, 0.2) and weight-decay uniform(0, 0.1), with the defaults' epochs and early stopping
(patience 2) on validation macro F1. Datasets are quality.py's splits.
"""
import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality  # noqa: E402  (the same splits and writers as the quality benchmark)

ROOT = quality.ROOT
LOW_LR, HIGH_LR = 2e-5, 5e-4
SPACE = ["learning-rate=loguniform(2e-5,5e-4)", "batch-size=[16,32]",
         "warmup-ratio=uniform(0,0.2)", "weight-decay=uniform(0,0.1)"]
# The README's settings for each dataset (README "The demo's model"; bench/README.md "Quality":
# Banking77 trains 3 epochs at 1e-4 there because 5e-5 was still far from converged).
DEFAULTS = {
    "phrasebank": {"epochs": 6, "batch-size": 16, "learning-rate": 5e-5, "warmup-ratio": 0.1,
                   "weight-decay": 0.01},
    "banking77": {"epochs": 3, "batch-size": 16, "learning-rate": 1e-4, "warmup-ratio": 0.1,
                  "weight-decay": 0.01},
}
FIXED = ["--early-stopping-patience", "2", "--max-length", "128", "--save-total-limit", "2"]


def done_keys(results_file):
    if not os.path.exists(results_file):
        return set()
    return {tuple(json.loads(l)["key"]) for l in open(results_file)}


def append(results_file, record):
    with open(results_file, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), file=sys.stderr, flush=True)


def evaluate_test(args, model_dir, test_file, report):
    subprocess.run([args.ftune, "--threads", str(args.threads), "eval", "--model", model_dir,
                    "--data", test_file, "--report-json", report],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = json.load(open(report))["metrics"]
    return {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["f1_macro"]}


def ftune_sweep(args, name, files):
    out = os.path.join(args.workdir, f"{name}-ftune-sweep")
    command = [args.ftune, "--threads", str(args.threads), "sweep", "--model", args.model,
               "--train", files["train"], "--valid", files["valid"], "--output-dir", out,
               "--trials", str(args.trials), "--parallel", str(args.parallel), "--seed",
               str(args.sweep_seed), "--successive-halving", "3",
               "--epochs", str(DEFAULTS[name]["epochs"]), *FIXED]
    for spec in SPACE:
        command += ["--space", spec]
    if os.path.exists(out):
        command.append("--resume")
    started = time.time()
    subprocess.run(command, check=True, stdout=open(out + ".log", "w"), stderr=subprocess.STDOUT)
    wall = time.time() - started
    trials = [json.loads(l) for l in open(os.path.join(out, "sweep.jsonl"))]
    finished = [t for t in trials if t.get("best_metric") is not None]
    best = max(finished, key=lambda t: t["best_metric"])
    test = evaluate_test(args, os.path.join(out, "best"), files["test"], out + "-test.json")
    return {"wall_seconds": wall, "best_valid_macro_f1": best["best_metric"],
            "best_params": best["params"], "statuses": [t["status"] for t in trials],
            "epochs_run": evaluations_run(out, trials), **test}


def evaluations_run(out, trials):
    """Evaluations (= epochs trained) over all trials, from each trial's trainer_log.jsonl."""
    count = 0
    for t in trials:
        log = os.path.join(out, f"trial-{t['trial']}", "trainer_log.jsonl")
        if os.path.exists(log):
            count += sum(1 for line in open(log) if '"eval_loss"' in line)
    return count


def hf_sweep(args, name, data):
    import optuna
    from transformers import (AutoModelForSequenceClassification, DataCollatorWithPadding,
                              EarlyStoppingCallback, Trainer, TrainingArguments)
    labels, label2id, tokenizer, encode = quality.hf_setup(args.model, data, args.threads, 128)

    trial_best = {"value": -math.inf}
    evaluations = []

    def model_init(trial=None):
        trial_best["value"] = -math.inf  # a new trial starts
        return AutoModelForSequenceClassification.from_pretrained(
            args.model, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id=label2id)

    def objective(metrics):
        trial_best["value"] = max(trial_best["value"], metrics["eval_macro_f1"])
        evaluations.append(metrics["eval_macro_f1"])
        return trial_best["value"]

    class EpochReports(Trainer):
        # Report to Optuna per epoch (1, 2, 3 ...), not per optimizer step: the pruner's rungs
        # (min_resource * 3^k) then fall on the 1st, 3rd, 9th evaluation, as ftune's do, for
        # both batch sizes.
        def _report_to_hp_search(self, trial, step, metrics):
            return super()._report_to_hp_search(trial, round(self.state.epoch or 0), metrics)

    def space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", LOW_LR, HIGH_LR, log=True),
                "per_device_train_batch_size": trial.suggest_categorical(
                    "per_device_train_batch_size", [16, 32]),
                "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.2),
                "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1)}

    out = os.path.join(args.workdir, f"{name}-hf-sweep")
    training = TrainingArguments(
        output_dir=out, overwrite_output_dir=True, per_device_eval_batch_size=64,
        num_train_epochs=DEFAULTS[name]["epochs"], eval_strategy="epoch", save_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="macro_f1", save_total_limit=2,
        seed=args.sweep_seed, report_to=[], use_cpu=True, logging_steps=50,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = EpochReports(model_init=model_init, args=training,
                           train_dataset=encode(data["train"]), eval_dataset=encode(data["valid"]),
                           data_collator=DataCollatorWithPadding(tokenizer),
                           compute_metrics=quality.hf_compute_metrics,
                           callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    started = time.time()
    best = trainer.hyperparameter_search(
        direction="maximize", backend="optuna", hp_space=space, n_trials=args.trials,
        compute_objective=objective, sampler=optuna.samplers.RandomSampler(seed=args.sweep_seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    wall = time.time() - started
    return {"wall_seconds": wall, "best_valid_macro_f1": best.objective,
            "best_params": best.hyperparameters, "epochs_run": len(evaluations)}


def train_and_test(args, name, files, options, seed, out, threads):
    command = [args.ftune, "--threads", str(threads), "train", "--model", args.model,
               "--train", files["train"], "--valid", files["valid"], "--output-dir", out,
               "--overwrite-output-dir", "--seed", str(seed), *FIXED]
    for option, value in options.items():
        command += [f"--{option}", str(value)]
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    report = out + "-test.json"
    subprocess.run([args.ftune, "--threads", str(threads), "eval", "--model",
                    os.path.join(out, "best"), "--data", files["test"], "--report-json", report],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = json.load(open(report))["metrics"]
    return {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["f1_macro"],
            "wall_seconds": wall}


def best_options(args, name):
    """The defaults with ftune-sweep's best trial's searched options in their place."""
    trials = [json.loads(l) for l in
              open(os.path.join(args.workdir, f"{name}-ftune-sweep", "sweep.jsonl"))]
    best = max((t for t in trials if t.get("best_metric") is not None),
               key=lambda t: t["best_metric"])
    return {**DEFAULTS[name], **best["params"]}


def run_tests(args, name, files, results_file):
    done = done_keys(results_file)
    jobs = []
    for setting in ("defaults", "ftune-best"):
        for seed in args.seeds:
            key = [name, "test", setting, seed]
            if tuple(key) in done:
                continue
            options = DEFAULTS[name] if setting == "defaults" else best_options(args, name)
            jobs.append((key, options, seed))
    threads = max(1, args.threads // args.parallel)

    def run(job):
        key, options, seed = job
        load = os.getloadavg()[0]
        out = os.path.join(args.workdir, "-".join(str(k) for k in key))
        result = train_and_test(args, name, files, options, seed, out, threads)
        return {"key": key, "options": options, **result, "threads": threads,
                "parallel": args.parallel, "load_before": load}
    # --parallel runs at a time with the threads split, as the sweep runs its trials.
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        for record in pool.map(run, jobs):
            append(results_file, record)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--datasets", nargs="+", default=["phrasebank"],
                        choices=sorted(DEFAULTS))
    parser.add_argument("--parts", nargs="+", default=["ftune-sweep", "hf-sweep", "test"])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2,
                        help="ftune sweep's --parallel, and test runs at a time")
    parser.add_argument("--sweep-seed", type=int, default=42)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--ftune", default=os.path.join(ROOT, "build", "ftune"))
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                          "ftune-sweep-bench"))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results_file = os.path.join(args.workdir, "results.jsonl")
    if not args.table_only:
        for name in args.datasets:
            data = quality.load_dataset(name)
            files = {}
            for part in ("train", "valid", "test"):
                files[part] = os.path.join(args.workdir, f"{name}-{part}.jsonl")
                quality.write_jsonl(files[part], data[part])
            for part in ("ftune-sweep", "hf-sweep"):
                key = [name, part]
                if part not in args.parts or tuple(key) in done_keys(results_file):
                    continue
                load = os.getloadavg()[0]
                result = ftune_sweep(args, name, files) if part == "ftune-sweep" \
                    else hf_sweep(args, name, data)
                append(results_file, {"key": key, **result, "trials": args.trials,
                                      "threads": args.threads, "load_before": load})
            if "test" in args.parts:
                run_tests(args, name, files, results_file)
    print_table(args, results_file)


def print_table(args, results_file):
    records = [json.loads(l) for l in open(results_file)] if os.path.exists(results_file) else []
    print("| dataset | sweep | trials | epochs run | wall s | best valid macro F1 | best setting |")
    print("|---|---|---|---|---|---|---|")
    for r in records:
        if r["key"][1].endswith("sweep"):
            print(f"| {r['key'][0]} | {r['key'][1]} | {r['trials']} | {r['epochs_run']} | "
                  f"{r['wall_seconds']:.0f} | {r['best_valid_macro_f1']:.4f} | "
                  f"{json.dumps(r['best_params'])} |")
    print()
    print("| dataset | setting | seeds | test macro F1 (mean ± std) | per seed | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        for setting in ("defaults", "ftune-best"):
            runs = [r for r in records if r["key"][:3] == [name, "test", setting]
                    and r["key"][3] in args.seeds]
            if not runs:
                continue
            f1 = [r["test_macro_f1"] for r in runs]
            accuracy = [r["test_accuracy"] for r in runs]
            spread = f" ± {quality.statistics.stdev(f1):.4f}" if len(f1) > 1 else ""
            print(f"| {name} | {setting} | {len(runs)} | "
                  f"{quality.statistics.mean(f1):.4f}{spread} | "
                  f"{' / '.join(f'{v:.3f}' for v in f1)} | "
                  f"{quality.statistics.mean(accuracy):.4f} |")


if __name__ == "__main__":
    main()
