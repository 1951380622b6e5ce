#!/usr/bin/python3
"""ftune against the Python baseline (../shared/baseline: the real Hugging Face Trainer, eval loop
and generate), side by side. Not part of the test suite.

For each case the two tools run interleaved, one process per run (ftune, baseline, ftune, ...),
on the same model folder shapes and weights, data rows and order, batch size, max length, step
count and thread count. Prints a markdown table of medians with the ftune/baseline ratio, then
one JSON line. Every run (with /proc/loadavg before and after) is appended to --out.

  TRANSFORMERS_SRC=/path/holding/transformers \\
    /usr/bin/python3 bench/run.py --cases train-tiny,eval-tiny,translate-small-greedy --runs 3

--anchors 4.19,current adds the same baseline scripts on a current torch + transformers (the
torch venv; bench/hf_current.py) as a third tool in the same interleaved rounds.

Cases: train-{tiny,mini,small,base}, eval-{...}, predict-{...},
translate-{small,opus}-{greedy,beam4}. See bench/README.md for what each one times.
"""
import argparse
import json
import os
import pty
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = "/usr/bin/python3"  # Debian's interpreter has torch (TOOLCHAIN.md gotcha 6)
BERT_PRESETS = ("tiny", "mini", "small", "base")
MARIAN_PRESETS = ("small", "opus")
LR, WEIGHT_DECAY, WARMUP_RATIO = 2e-5, 0.01, 0.1  # hf_train_bench.py's Trainer arguments
PROGRESS = re.compile(r"(\w+) \[[#.]*\] (\d+)/(\d+) ")  # ftune's terminal progress bar


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------- running one process


def run_process(cmd, env, log_path, pty_stderr=False, watch_file=None):
    """Runs cmd to completion. Returns rc, wall_s, peak_rss_mib (the child's own ru_maxrss, from
    wait4), progress events [(t, done, total)] read from a pty on stderr (ftune redraws its bar
    at most every 0.1 s and once at the end), and lines [(t, text)] appended to watch_file,
    each stamped when first seen (polled every 20 ms: a tighter poll took CPU from a 2-thread ftune
    on 2 cores). Times are relative to the start."""
    out = open(log_path, "wb")
    master = slave = None
    if pty_stderr:
        master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=slave if pty_stderr else out)
    if slave is not None:
        os.close(slave)
    progress, lines, seen, text = [], [], 0, ""
    rusage, status = None, 0

    def read_pty(timeout):
        nonlocal text
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            return False
        if not chunk:
            return False
        t = time.perf_counter() - t0
        out.write(chunk)
        text += chunk.decode("utf-8", "replace")
        last = 0
        for m in PROGRESS.finditer(text):
            progress.append((t, int(m.group(2)), int(m.group(3))))
            last = m.end()
        text = text[last:] if last else text[-200:]
        return True

    def read_watch():
        nonlocal seen
        try:
            size = os.path.getsize(watch_file)
        except OSError:
            return
        if size < seen:  # the log is recreated at start-up
            seen = 0
        if size == seen:
            return
        t = time.perf_counter() - t0
        with open(watch_file, "rb") as f:
            f.seek(seen)
            data = f.read()
        end = data.rfind(b"\n") + 1
        seen += end
        lines.extend((t, line) for line in data[:end].decode("utf-8").splitlines())

    pty_open = master is not None
    rss, next_rss = [], 0.0  # (t, MiB) every 50 ms: shows whether the peak is in the timed loop
    page_mib = os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20
    while True:
        now = time.perf_counter() - t0
        if now >= next_rss:
            try:
                with open("/proc/%d/statm" % proc.pid) as f:
                    rss.append((now, int(f.read().split()[1]) * page_mib))
            except (OSError, IndexError, ValueError):
                pass
            next_rss = now + 0.05
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if pty_open:
            pty_open = read_pty(0.02 if watch_file else 0.05)
        else:
            time.sleep(0.02 if watch_file else 0.05)
        if watch_file:
            read_watch()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    while pty_open:
        pty_open = read_pty(0.05)
    if master is not None:
        os.close(master)
    if watch_file:
        read_watch()
    out.close()
    return {"rc": proc.returncode, "wall_s": wall, "t0": t0, "peak_rss_mib": rusage.ru_maxrss / 1024.0,
            "cpu_s": rusage.ru_utime + rusage.ru_stime, "progress": progress, "lines": lines, "rss": rss}


def last_json(path):
    """The baseline's final JSON line (Trainer also prints Python dicts, which are not JSON)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        found = [l for l in f if l.startswith("{")]
    for line in reversed(found):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def tail(path, n=5):
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(f.readlines()[-n:])


# ---------------------------------------------------------------- cases


class Case:
    """One benchmark case: how to prepare it, and how to run and read each tool."""

    def __init__(self, name, a):
        self.name, self.a = name, a
        parts = name.split("-")
        self.kind, self.preset = parts[0], parts[1]
        self.beams = {"greedy": 1, "beam4": 4}[parts[2]] if self.kind == "translate" else None
        presets = MARIAN_PRESETS if self.kind == "translate" else BERT_PRESETS
        if self.kind not in ("train", "eval", "predict", "translate") or self.preset not in presets:
            raise SystemExit("unknown case '%s'; expected train-|eval-|predict-<%s> or "
                             "translate-<%s>-greedy|beam4" % (name, "|".join(BERT_PRESETS),
                                                               "|".join(MARIAN_PRESETS)))
        if self.kind == "translate" and len(parts) != 3:
            raise SystemExit("unknown case '%s'" % name)
        self.steps = a.steps if a.steps else (5 if self.preset == "base" else 30)
        self.sentences = a.sentences if a.sentences else (32 if self.preset == "opus" else 64)
        self.train_rows = (a.warmup_steps + self.steps) * a.batch_size
        self.train_file = (os.path.join(a.workdir, "sst2-packed%d-%d" % (a.max_length, self.train_rows))
                           if a.packed else
                           os.path.join(a.workdir, "sst2-train-%d" % self.train_rows))

    def prepare_args(self):
        if self.kind == "train":
            return ["--bert", self.preset, "--train-rows", str(self.train_rows)] + (
                ["--packed"] if self.a.packed else [])
        if self.kind in ("eval", "predict"):
            return ["--bert", self.preset, "--dev-copies", str(self.a.eval_passes)]
        return ["--marian", self.preset, "--sentences", str(self.sentences)]

    # -- ftune

    def ftune_cmd(self, ftune, precision, run_dir):
        a, w = self.a, self.a.workdir
        cmd = [ftune, "--threads", str(a.threads), self.kind]
        if self.kind == "train":
            cmd += ["--model", os.path.join(w, "bert-" + self.preset),
                    "--train", self.train_file + ".jsonl",
                    "--output-dir", os.path.join(run_dir, "out"), "--no-shuffle",
                    "--max-length", str(a.max_length), "--batch-size", str(a.batch_size),
                    "--learning-rate", str(LR), "--weight-decay", str(WEIGHT_DECAY),
                    "--warmup-ratio", str(WARMUP_RATIO),
                    "--max-steps", str(a.warmup_steps + self.steps),
                    "--eval-strategy", "no", "--logging-steps", "1", "--seed", "42"]
        elif self.kind in ("eval", "predict"):
            cmd += ["--model", os.path.join(w, "bert-" + self.preset),
                    "--data", os.path.join(w, "sst2-dev-x%d.jsonl" % a.eval_passes),
                    "--batch-size", str(a.eval_batch_size), "--max-length", str(a.max_length)]
            if self.kind == "predict":
                cmd += ["--output", os.path.join(run_dir, "predictions.jsonl")]
        else:
            cmd += ["--model", os.path.join(w, "marian-" + self.preset),
                    "--input", os.path.join(w, "multi30k-val-%d.txt" % self.sentences),
                    "--output", os.path.join(run_dir, "translations.jsonl"),
                    "--beam", str(self.beams), "--max-length", str(a.gen_max_length),
                    "--min-length", str(a.gen_max_length), "--early-stopping",
                    "--batch-size", str(a.gen_batch_size)]
        if precision is not None:
            cmd += ["--precision", precision]
        return cmd

    def ftune_result(self, r, run_dir):
        """Throughput over the timed window only (warm-up excluded), from ftune's own outputs."""
        a, w = self.a, self.a.workdir
        if self.kind == "train":
            steps, elapsed = {}, {}
            summary = None
            for t, line in r["lines"]:
                rec = json.loads(line)
                if "train_runtime" in rec:
                    summary = rec
                elif "loss" in rec:
                    steps[rec["step"]] = t
                    elapsed[rec["step"]] = rec.get("elapsed")
            first, last = a.warmup_steps, a.warmup_steps + self.steps
            # ftune's own clock ("elapsed", seconds since the loop began, taken as each step
            # ends): the same span as the baseline's step callbacks, without this script's
            # polling in it. Older binaries without it: the poll stamps.
            if first and elapsed.get(first) is not None and elapsed.get(last) is not None:
                window = elapsed[last] - elapsed[first]
            else:
                window = steps[last] - steps[first] if first else steps[last]
            with open(self.train_file + ".jsonl.lengths") as f:
                lengths = json.load(f)
            rows = lengths[first * a.batch_size:last * a.batch_size]
            res = {"samples_per_s": len(rows) / window, "tokens_per_s": sum(rows) / window,
                   "window_s": window, "timed_samples": len(rows), "timed_tokens": sum(rows),
                   "step_s": window / self.steps,
                   "window": [steps[first] if first else 0.0, steps[last]]}
            if summary:  # ftune's own whole-run figure (start-up and warm-up included)
                res["own_train_samples_per_second"] = summary["train_samples_per_second"]
                res["own_train_runtime"] = summary["train_runtime"]
                res["final_train_loss"] = summary["train_loss"]
            return res
        events = r["progress"]
        if len(events) < 2:
            raise RuntimeError("ftune drew its progress bar %d times; the run is too short to time "
                               "(raise --eval-passes or --sentences)" % len(events))
        (t_first, done_first, total), (t_last, done_last, _) = events[0], events[-1]
        window = t_last - t_first
        span = [t_first, t_last]
        if self.kind in ("eval", "predict"):
            with open(os.path.join(w, "sst2-dev-x%d.jsonl.lengths" % a.eval_passes)) as f:
                lengths = json.load(f)
            rows = lengths[done_first:done_last]
            res = {"samples_per_s": len(rows) / window, "tokens_per_s": sum(rows) / window,
                   "window_s": window, "timed_samples": len(rows), "timed_tokens": sum(rows),
                   "window": span}
            with open(os.path.join(run_dir, "output.log"), errors="replace") as f:
                for line in f:  # same weights as the baseline: the same accuracy is expected
                    if line.startswith("accuracy "):
                        res["accuracy_random_init"] = float(line.split()[1])
            return res
        with open(os.path.join(w, "marian-" + self.preset, "config.json")) as f:
            pad = json.load(f)["pad_token_id"]
        with open(os.path.join(run_dir, "translations.jsonl")) as f:
            outputs = [json.loads(l)["ids"] for l in f]
        tokens = sum(sum(1 for i in ids[1:] if i != pad) for ids in outputs[done_first:done_last])
        return {"target_tokens_per_s": tokens / window,
                "sentences_per_s": (done_last - done_first) / window, "window_s": window,
                "timed_sentences": done_last - done_first, "timed_target_tokens": tokens,
                "window": span}

    # -- baseline

    def baseline_cmd(self, current=False):
        """The shared baseline's script for this case; current=True runs it on the PyPI torch and
        transformers of --current-python through hf_current.py (train and eval only)."""
        a, b = self.a, self.a.baseline_dir
        t = ["--threads", str(a.threads)]
        if current:
            if self.kind == "translate":
                raise RuntimeError("the current anchor covers train, eval and predict")
            name = "hf_train_bench.py" if self.kind == "train" else "hf_eval_bench.py"
            return [a.current_python, os.path.join(HERE, "hf_current.py"), name] + \
                self.baseline_cmd()[2:]
        if self.kind == "train":
            return [PY, os.path.join(b, "hf_train_bench.py"), "--preset", self.preset,
                    "--steps", str(self.steps), "--warmup-steps", str(a.warmup_steps),
                    "--batch-size", str(a.batch_size), "--max-length", str(a.max_length),
                    "--order", "sequential", "--optim", a.baseline_optim,
                    "--train-rows", str(self.train_rows), "--loop", a.baseline_loop] + t + (
                        ["--data", self.train_file + ".tsv"] if a.packed else [])
        if self.kind in ("eval", "predict"):
            return [PY, os.path.join(b, "hf_eval_bench.py"), "--preset", self.preset,
                    "--batch-size", str(a.eval_batch_size), "--max-length", str(a.max_length),
                    "--passes", str(a.eval_passes)] + t
        return [PY, os.path.join(b, "hf_generate_bench.py"), "--preset", self.preset,
                "--num-beams", str(self.beams), "--num-sentences", str(self.sentences),
                "--batch-size", str(a.gen_batch_size), "--max-length", str(a.gen_max_length)] + t

    def baseline_result(self, rec):
        if self.kind == "train":
            # loop_*: end of the last warm-up step to the end of the last step, batch collation
            # included, as ftune's window is; samples_per_s (in-step only) is kept alongside.
            return {"samples_per_s": rec["loop_samples_per_s"],
                    "tokens_per_s": rec["loop_tokens_per_s"],
                    "in_step_samples_per_s": rec["samples_per_s"],
                    "window_s": rec["loop_wall_s"], "timed_samples": rec["timed_samples"],
                    "timed_tokens": rec["timed_tokens_nonpad"], "step_s": rec["step_s_mean"],
                    "final_train_loss": rec["final_train_loss"], "real_trainer": rec["real_trainer"]}
        if self.kind in ("eval", "predict"):
            return {"samples_per_s": rec["samples_per_s"], "tokens_per_s": rec["tokens_per_s"],
                    "window_s": rec["pass_s_median"], "timed_samples": rec["rows"],
                    "timed_tokens": rec["tokens_nonpad"],
                    "accuracy_random_init": rec["accuracy_random_init"]}
        return {"target_tokens_per_s": rec["target_tokens_per_s"],
                "sentences_per_s": rec["sentences_per_s"], "window_s": rec["wall_s"],
                "timed_sentences": rec["sentences"], "timed_target_tokens": rec["target_tokens"]}

    def metrics(self):
        if self.kind == "translate":
            return ["target_tokens_per_s", "sentences_per_s"]
        return ["samples_per_s", "tokens_per_s"]


# ---------------------------------------------------------------- the matrix


def default_workdir():
    return os.path.join(tempfile.gettempdir(), "ftune-bench")


def prepare(case, a):
    """Model folders and data for the case (bench/prepare.py; kept between runs)."""
    os.makedirs(a.workdir, exist_ok=True)
    r = subprocess.run([PY, os.path.join(HERE, "prepare.py"), "--workdir", a.workdir,
                        "--max-length", str(a.max_length)] + case.prepare_args(),
                       stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, BASELINE_DIR=a.baseline_dir))
    if r.returncode != 0:
        raise SystemExit("preparing %s failed:\n%s" % (case.name, r.stderr[-2000:]))


def snapshot_ftune(a):
    """Copies the binary (and its SentencePiece shim, found beside the executable) so that a
    rebuild during the benchmark cannot mix two versions."""
    src = os.path.abspath(a.ftune)
    for _ in range(60):
        if os.path.isfile(src):
            break
        print("# waiting for %s (being rebuilt?)" % src, file=sys.stderr, flush=True)
        time.sleep(10)
    dest = os.path.join(a.workdir, "bin")
    os.makedirs(dest, exist_ok=True)
    shutil.copy2(src, os.path.join(dest, "ftune"))
    shim = os.path.join(os.path.dirname(src), "libftune_spm.so")
    if os.path.isfile(shim):
        shutil.copy2(shim, os.path.join(dest, "libftune_spm.so"))
    help_text = subprocess.run([os.path.join(dest, "ftune"), "train", "--help"],
                               capture_output=True, text=True).stdout
    return os.path.join(dest, "ftune"), "--precision" in help_text, os.path.getmtime(src)


def run_one(case, tool, run_index, a, ftune, pass_precision, env):
    run_dir = os.path.join(a.workdir, "runs", "%s-%s-%d" % (case.name, tool, run_index))
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    log = os.path.join(run_dir, "output.log")
    rec = {"case": case.name, "tool": tool, "run": run_index, "threads": a.threads,
           "load_before": loadavg()}
    cmd = []
    try:
        if tool.startswith("ftune"):
            precision = tool.split(":")[1]
            cmd = case.ftune_cmd(ftune, precision if pass_precision else None, run_dir)
            watch = os.path.join(run_dir, "out", "trainer_log.jsonl") if case.kind == "train" else None
            r = run_process(cmd, env, log, pty_stderr=case.kind != "train", watch_file=watch)
            if r["rc"] != 0:
                raise RuntimeError("rc %d: %s" % (r["rc"], tail(log)))
            rec.update(case.ftune_result(r, run_dir))
            start, end = rec["window"]
            inside = [m for t, m in r["rss"] if start <= t <= end]
            rec["rss_window_max_mib"] = max(inside) if inside else None
            rec["precision"] = precision if pass_precision else "fp32 (no --precision flag)"
        else:
            cmd = case.baseline_cmd(current=tool == "baseline:current")
            r = run_process(cmd, env, log)
            out = last_json(log)
            if r["rc"] != 0 or out is None:
                raise RuntimeError("rc %d: %s" % (r["rc"], tail(log)))
            rec.update(case.baseline_result(out))
            rec["precision"] = "fp32"
            rec["blas"] = out.get("blas")
            rec["torch"], rec["transformers"] = out.get("torch"), out.get("transformers")
            rec["baseline"] = ("hf-trainer" if out.get("real_trainer", True) else
                               "manual loop (fallback, not the real Trainer)")
        rec.update({"ok": True, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                    "peak_rss_mib": r["peak_rss_mib"]})
    except Exception as e:  # recorded, and the matrix goes on
        rec.update({"ok": False, "error": str(e)[-800:]})
    rec["load_after"] = loadavg()
    rec["cmd"] = " ".join(os.path.relpath(c, REPO) if os.path.isabs(c) else c for c in cmd)
    if rec["ok"] and not a.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return rec


def median(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None


def summarize(cases, tools, records):
    summary = {}
    lines = ["| case | tool | runs | %s | %s | peak RSS MiB | wall s | load 1m before..after |"
             % ("rate 1", "rate 2"), "|---|---|---|---|---|---|---|---|"]
    for case in cases:
        per = {}
        for tool in tools:
            rs = [r for r in records if r["case"] == case.name and r["tool"] == tool and r["ok"]]
            if not rs:
                continue
            m = {k: median(rs, k) for k in case.metrics() + ["peak_rss_mib", "wall_s", "step_s"]}
            m["runs"] = len(rs)
            m["load_1m"] = [min(r["load_before"][0] for r in rs), max(r["load_after"][0] for r in rs)]
            per[tool] = m
        if not per:
            continue
        bases = {t: per[t] for t in ("baseline", "baseline:current") if t in per}
        entry = {"tools": per}
        for tool, m in per.items():
            k1, k2 = case.metrics()
            cell = lambda k: "%.4g %s" % (m[k], k.replace("_per_s", "/s"))
            lines.append("| %s | %s | %d | %s | %s | %.0f | %.1f | %.1f..%.1f |" % (
                case.name, tool, m["runs"], cell(k1), cell(k2), m["peak_rss_mib"], m["wall_s"],
                m["load_1m"][0], m["load_1m"][1]))
            if tool.startswith("baseline"):
                continue
            for base_name, base in bases.items():
                ratio = {k: m[k] / base[k] for k in case.metrics()}
                ratio["peak_rss"] = m["peak_rss_mib"] / base["peak_rss_mib"]
                # "ratio_ftune:fp32" against the 4.19 anchor, as before; "..._current" against
                # the current one.
                suffix = "_current" if base_name == "baseline:current" else ""
                entry["ratio_" + tool + suffix] = ratio
                lines.append("| %s | **%s / %s** | | **%.2f×** | **%.2f×** | %.2f× | | |" % (
                    case.name, tool, base_name, ratio[k1], ratio[k2], ratio["peak_rss"]))
        fp32, bf16 = per.get("ftune:fp32"), per.get("ftune:bf16")
        if fp32 and bf16:
            k1 = case.metrics()[0]
            entry["bf16_over_fp32"] = bf16[k1] / fp32[k1]
            lines.append("| %s | **ftune bf16 / fp32** | | **%.2f×** | | | | |" % (
                case.name, entry["bf16_over_fp32"]))
        summary[case.name] = entry
    return lines, summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="train-tiny,train-mini,eval-tiny,eval-mini,"
                   "translate-small-greedy,translate-small-beam4")
    p.add_argument("--runs", type=int, default=3, help="runs per tool and case (interleaved)")
    p.add_argument("--threads", type=int, default=1, help="--threads / torch.set_num_threads / OMP_NUM_THREADS")
    p.add_argument("--precision", default="fp32",
                   help="comma-separated ftune precisions (fp32,bf16,fp16), each its own column; "
                        "the baseline always runs fp32")
    p.add_argument("--steps", type=int, default=0, help="timed training steps (default 30; 5 for base)")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed training steps first")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--packed", action="store_true",
                   help="train on rows of exactly --max-length tokens (sequence-length sweeps)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--eval-passes", type=int, default=2,
                   help="eval: baseline --passes; ftune reads the dev set this many times over")
    p.add_argument("--sentences", type=int, default=0, help="translation sources (default 64; 32 for opus)")
    p.add_argument("--gen-batch-size", type=int, default=16)
    p.add_argument("--gen-max-length", type=int, default=64, help="= min length: every output is this long")
    p.add_argument("--baseline-optim", default="adamw_torch",
                   help="Trainer optim: adamw_torch (torch.optim.AdamW, as ftune) or adamw_hf (4.19 default)")
    p.add_argument("--baseline-loop", default="trainer", choices=["trainer", "manual"],
                   help="manual = the baseline's labelled fallback loop, only where Trainer cannot run")
    p.add_argument("--no-baseline", action="store_true", help="ftune only (scaling sweeps)")
    p.add_argument("--anchors", default="4.19",
                   help="comma-separated: 4.19 (the shared baseline: transformers 4.19 on Debian's "
                        "torch 1.13) and/or current (the same scripts on --current-python's torch "
                        "and transformers, through bench/hf_current.py; train, eval, predict)")
    p.add_argument("--current-python", default=os.path.join(
        os.environ.get("FTUNE_TORCH2_VENV", os.path.expanduser("~/.cache/ftune/venv-torch-2.11.0")),
        "bin", "python"), help="the interpreter of the current anchor (scripts/install-torch2.sh's "
                               "venv, plus `pip install accelerate`)")
    p.add_argument("--ftune", default=os.path.join(REPO, "build", "ftune"))
    p.add_argument("--baseline-dir", default=os.path.join(REPO, "..", "shared", "baseline"))
    p.add_argument("--workdir", default=default_workdir(),
                   help="model folders, converted data and run folders (outside the repository)")
    p.add_argument("--out", default="", help="JSONL of every run (default WORKDIR/results.jsonl)")
    p.add_argument("--keep", action="store_true", help="keep each run's folder (logs, outputs)")
    a = p.parse_args()
    a.workdir = os.path.abspath(a.workdir)
    a.baseline_dir = os.path.abspath(a.baseline_dir)
    out_path = a.out or os.path.join(a.workdir, "results.jsonl")
    if not a.no_baseline and not os.environ.get("TRANSFORMERS_SRC"):  # prepare.py needs it too
        raise SystemExit("set TRANSFORMERS_SRC (see bench/README.md), or pass --no-baseline")
    cases = [Case(n.strip(), a) for n in a.cases.split(",") if n.strip()]
    for case in cases:
        prepare(case, a)
    ftune, pass_precision, mtime = snapshot_ftune(a)
    precisions = [x.strip() for x in a.precision.split(",") if x.strip()]
    if not pass_precision and precisions != ["fp32"]:
        raise SystemExit("this ftune has no --precision option; run with --precision fp32")
    anchors = [x.strip() for x in a.anchors.split(",") if x.strip()]
    if set(anchors) - {"4.19", "current"}:
        raise SystemExit("--anchors: expected 4.19 and/or current, got %s" % a.anchors)
    tools = ["ftune:" + x for x in precisions] + ([] if a.no_baseline else [
        {"4.19": "baseline", "current": "baseline:current"}[x] for x in anchors])
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), BASELINE_DATA=os.environ.get(
        "BASELINE_DATA", os.path.join(a.baseline_dir, "..", "data")))
    records = []
    started = time.time()
    for case in cases:
        for run_index in range(1, a.runs + 1):
            for tool in tools:  # interleaved: A B A B ...
                rec = run_one(case, tool, run_index, a, ftune, pass_precision, env)
                rec["ftune_mtime"] = mtime
                records.append(rec)
                with open(out_path, "a") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
                k = case.metrics()[0]
                print("# %s %s run %d: %s, load %.2f -> %.2f" % (
                    case.name, tool, run_index,
                    "%.4g %s, %.0f MiB" % (rec[k], k, rec["peak_rss_mib"]) if rec["ok"]
                    else "FAILED " + rec["error"].splitlines()[0][:200],
                    rec["load_before"][0], rec["load_after"][0]), file=sys.stderr, flush=True)
    lines, summary = summarize(cases, tools, records)
    print("\n".join(lines))
    print(json.dumps({"bench": "ftune-vs-baseline", "threads": a.threads, "runs": a.runs,
                      "anchors": anchors,
                      "precisions": precisions, "baseline_optim": a.baseline_optim,
                      "elapsed_s": time.time() - started, "cpus": os.cpu_count(),
                      "cases": summary}, sort_keys=True))


if __name__ == "__main__":
    main()
