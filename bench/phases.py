#!/usr/bin/python3
"""Where ftune's time goes: runs one bench case's ftune command under `perf record` (call graphs
unwound with DWARF) and attributes every CPU sample to a phase by the ftune/LibTorch functions on
its stack (data, forward, backward, optimizer, ... for training; encoder, decoder, vocabulary
projection, search for translation), and to what the innermost frame was (OpenBLAS GEMM, other
LibTorch ops, the kernel). Prints a markdown table and one JSON line. Not a benchmark against the
baseline (that is run.py); perf adds some overhead, so use the shares, not the absolute times.

  /usr/bin/python3 bench/phases.py --case train-mini --steps 10 --threads 1

Needs `perf` (linux-perf) with perf_event_paranoid <= 2, and the work folder that run.py
prepares (run it once for the case, or let this script call prepare.py: it needs TRANSFORMERS_SRC).
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the same cases, commands and timing as the benchmark)

# (phase, substrings of a frame's symbol). The first phase with a match anywhere on the stack
# wins, so nested phases come before the phases that contain them.
PHASES = [
    ("save (checkpoint-N/, last/)", ["save_training_checkpoint", "save_model_folder"]),
    ("setup (read + tokenize data, load model)",
     ["make_classification_task", "make_translation_task", "make_mlm_task", "load_classifier",
      "read_text_examples", "load_marian_folder", "encode_source", "read_table"]),
    ("data (collate batches)", ["collate_batch", "collate_sources", "collate_"]),
    ("optimizer (AdamW step)", ["optim::AdamW::step", "optim::Adam::step"]),
    ("zero_grad", ["Optimizer::zero_grad"]),
    ("grad clip", ["clip_gradients"]),
    ("backward", ["torch::autograd::backward", "autograd::Engine::execute"]),
    ("forward + loss", ["compute_loss"]),
    ("vocab projection (lm_head)", ["MarianMTModelImpl::project_to_vocab"]),
    ("encoder", ["MarianMTModelImpl::encode"]),
    ("decoder layers", ["MarianMTModelImpl::decode"]),
    ("search (logits processing, beams)", ["ftune::generate"]),
    ("forward (eval)", ["compute_logits"]),
    ("rest of the command", ["ftune::run_train", "ftune::run_eval", "ftune::run_predict",
                             "ftune::run_translate"]),
]
OUTSIDE = "unattributed (JIT code, stack not unwound; start-up and exit with --whole-run)"
LOOP_PHASES = {"data (collate batches)", "optimizer (AdamW step)", "zero_grad", "grad clip",
               "backward", "forward + loss", "rest of the command", "vocab projection (lm_head)",
               "encoder", "decoder layers", "search (logits processing, beams)", "forward (eval)"}
LEAVES = ["GEMM (OpenBLAS)", "oneDNN", "oneDNN JIT kernels", "LibTorch ops", "libc (memcpy, malloc)", "OpenMP runtime",
          "kernel (page faults, I/O)", "other"]
FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def leaf_kind(dso):
    d = os.path.basename(dso).lower()
    if "openblas" in d or d.startswith("libblas"):
        return "GEMM (OpenBLAS)"
    if "dnnl" in d or "mkldnn" in d:
        return "oneDNN"
    if d.startswith("perf-") and d.endswith(".map"):  # code generated at run time (oneDNN's JIT);
        return "oneDNN JIT kernels"  # perf cannot unwind through it, so its phase is unattributed
    if "libtorch" in d or "libc10" in d:
        return "LibTorch ops"
    if d.startswith("libc.so") or d.startswith("libstdc++"):
        return "libc (memcpy, malloc)"
    if "gomp" in d or "omp" in d:
        return "OpenMP runtime"
    if "kernel" in d:
        return "kernel (page faults, I/O)"
    return "other"


def read_samples(perf_data):
    """Yields (time, leaf dso, [symbols innermost first]) per sample of `perf script`; time is
    CLOCK_MONOTONIC seconds (perf record -k mono), the clock of Python's time.perf_counter."""
    proc = subprocess.Popen(["perf", "script", "-i", perf_data, "-F", "comm,time,ip,sym,dso"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            errors="replace")
    t, frames = None, []
    for line in proc.stdout:
        if not line.strip():
            if frames:
                yield t, frames[0][1], [s for s, _ in frames]
            t, frames = None, []
            continue
        m = FRAME.match(line)
        if m:
            frames.append((m.group(1), m.group(2)))
        elif t is None:
            stamp = re.search(r"(\d+\.\d+):", line)
            t = float(stamp.group(1)) if stamp else None
    if frames:
        yield t, frames[0][1], [s for s, _ in frames]
    proc.wait()


def classify(symbols):
    for phase, needles in PHASES:
        if any(n in s for s in symbols for n in needles):
            return phase
    return OUTSIDE


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="train-mini", help="one run.py case, e.g. train-mini, eval-tiny, translate-small-beam4")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", default="", help="passed to ftune as --precision (default: none)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--packed", action="store_true", help="rows of exactly --max-length tokens")
    p.add_argument("--frequency", type=int, default=250, help="perf samples per second")
    p.add_argument("--whole-run", action="store_true",
                   help="count every sample (start-up, warm-up, saving), not just the timed window")
    p.add_argument("--workdir", default=run.default_workdir())
    p.add_argument("--ftune", default=os.path.join(run.REPO, "build", "ftune"))
    a = p.parse_args()
    # The fields run.Case reads, with run.py's defaults.
    for k, v in dict(eval_batch_size=32, eval_passes=2, sentences=0, gen_batch_size=16,
                     gen_max_length=64, no_baseline=True,
                     baseline_dir=os.path.abspath(os.path.join(run.REPO, "..", "shared", "baseline"))).items():
        setattr(a, k, v)
    a.workdir = os.path.abspath(a.workdir)
    case = run.Case(a.case, a)
    run.prepare(case, a)
    ftune, _, _ = run.snapshot_ftune(a)
    run_dir = os.path.join(a.workdir, "runs", "phases-" + a.case)
    subprocess.run(["rm", "-rf", run_dir], check=True)
    os.makedirs(run_dir)
    perf_data = os.path.join(run_dir, "perf.data")
    cmd = ["perf", "record", "-q", "-k", "mono", "-F", str(a.frequency), "--call-graph", "dwarf,32768", "-o",
           perf_data, "--"] + case.ftune_cmd(ftune, a.precision or None, run_dir)
    watch = os.path.join(run_dir, "out", "trainer_log.jsonl") if case.kind == "train" else None
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    r = run.run_process(cmd, env, os.path.join(run_dir, "output.log"),
                        pty_stderr=case.kind != "train", watch_file=watch)
    if r["rc"] != 0:
        raise SystemExit("perf/ftune failed (rc %d):\n%s" % (r["rc"], run.tail(os.path.join(run_dir, "output.log"))))
    timing = case.ftune_result(r, run_dir)

    # Only samples inside the timed window (warm-up steps/batches excluded), unless --whole-run.
    start, end = (r["t0"] + x for x in timing["window"])
    counts = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    for t, dso, symbols in read_samples(perf_data):
        if not a.whole_run and (t is None or not start <= t <= end):
            continue
        phase = classify(symbols)
        counts[phase] += 1
        leaves[phase][leaf_kind(dso)] += 1
    if not a.whole_run:  # inside the timed window, unattributed samples are loop time too
        LOOP_PHASES.add(OUTSIDE)
    total = sum(counts.values())
    loop = sum(n for ph, n in counts.items() if ph in LOOP_PHASES)
    per_unit, unit = None, ""
    if case.kind == "train":
        per_unit, unit = timing["window_s"] * 1000 / a.steps, "ms/step"
    elif case.kind == "translate":
        per_unit, unit = timing["window_s"] * 1000 / timing["timed_target_tokens"], "ms/target token"

    order = [ph for ph, _ in PHASES] + [OUTSIDE]
    print("| phase | %% of all samples | %% of the loop | %s | %s |" % (
        unit or "", " | ".join(LEAVES)))
    print("|---|---|---|---|" + "---|" * len(LEAVES))
    rows = {}
    for ph in order:
        n = counts.get(ph, 0)
        if not n:
            continue
        in_loop = ph in LOOP_PHASES
        share = n / loop if in_loop and loop else None
        rows[ph] = {"samples": n, "share_all": n / total, "share_loop": share,
                    "leaf": {k: leaves[ph][k] / n for k in LEAVES if leaves[ph][k]}}
        if per_unit and share is not None:
            rows[ph][unit] = share * per_unit
        print("| %s | %.1f | %s | %s | %s |" % (
            ph, 100 * n / total, "%.1f" % (100 * share) if share is not None else "",
            "%.3g" % (share * per_unit) if per_unit and share is not None else "",
            " | ".join("%.0f%%" % (100 * leaves[ph][k] / n) if leaves[ph][k] else "" for k in LEAVES)))
    all_leaves = collections.Counter()
    for ph in LOOP_PHASES:
        all_leaves.update(leaves.get(ph, {}))
    print("| **loop total** | %.1f | 100 | %s | %s |" % (
        100 * loop / max(total, 1), "%.3g" % per_unit if per_unit else "",
        " | ".join("%.0f%%" % (100 * all_leaves[k] / loop) if loop and all_leaves[k] else "" for k in LEAVES)))
    print(json.dumps({"bench": "ftune_phases", "case": a.case, "threads": a.threads,
                      "whole_run": a.whole_run,
                      "precision": a.precision or "default", "samples": total,
                      "loop_samples": loop, "timing": timing, "phases": rows,
                      "loop_leaf": {k: all_leaves[k] / loop for k in LEAVES if loop and all_leaves[k]},
                      "loadavg": run.loadavg()}, sort_keys=True))


if __name__ == "__main__":
    main()
