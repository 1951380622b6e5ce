"""Translation speed three ways (issue #18): `ftune translate` against Hugging Face `generate`
(transformers + torch from PyPI) and CTranslate2 (its PyPI wheel; the model converted from the
same folder by its own TransformersConverter), interleaved in one run.

Run with the torch venv's Python (torch, transformers, sentencepiece, ctranslate2), from the
repository root:

    python bench/translate.py --ftune build-torch2/ftune --threads 2 --runs 3

Models: `opus`, an OPUS-MT-shaped MarianMT folder with random weights (bench/int8.py's: d_model
512, 6 + 6 layers, opus-mt-en-mg's 58k vocabulary; made once), where every output is forced to
--opus-length tokens (min = max length, as ../shared/baseline/hf_generate_bench.py does) so all
three decode the same number of steps; and `fixture`, the trained Marian fixture
(tests/fixtures/marian-mt, English to German, d_model 64) on Multi30k test, decoding to its own
end of sentence (max length 64, its max_position_embeddings). Sources: the first sentences of Multi30k's test set.

Columns: ftune fp32 (its default `--cpu-gemm auto`: oneDNN's packed GEMM, libdnnl in the Debian
build, LibTorch's own oneDNN in the torch2 build), ftune fp32 with `--cpu-gemm blas` (the BLAS
sgemm, as before issue #18), ftune int8 (`--quantize int8`), ftune bf16 (tool `ftune:bf16`, not
in the default list: `--precision bf16`, bfloat16 products on libdnnl where the CPU has them, else
autocast), optionally a second ftune binary
(`--ftune-before`, tool `before:auto`: e.g. the previous commit's build, for an A/B in the same
rounds), HF generate fp32, CTranslate2 float32 and int8 (compute_type). Any ftune or CTranslate2
tool with `+vmap` (`ftune:auto+vmap`, `ftune:bf16+vmap`, `ct2:float32+vmap`, ...) decodes with a
vocabulary shortlist: `ftune shortlist` (the --ftune binary, default settings) on Multi30k train
(29,000 pairs), made once per model in the work folder, given to `ftune translate
--vocab-shortlist` and to CTranslate2's converter (`vmap=`, then `use_vmap=True`). Rows: model x greedy /
beam 4 x batch 1 / batch 16. Each cell is the median of --runs runs, the tools interleaved in
every round (a different order each round).

Timing, the same window for all: the first batch is a warm-up; the window runs from the end of
the first batch to the end of the last. ftune: its progress bar's redraws read from a
pseudo-terminal (bench/run.py's run_process), target tokens counted from the output's ids
(start token and padding excluded); HF and CTranslate2: in-process timers around each batch,
the same count. Peak memory: the process's peak RSS (ru_maxrss), loading included.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
sys.path.insert(0, HERE)


def sources(count):
    with gzip.open(os.path.join(SHARED, "multi30k", "test_2016_flickr.en.gz"), "rt",
                   encoding="utf-8") as f:
        return [line.rstrip("\n") for _, line in zip(range(count), f)]


# ------------------------------------------------------------------ workers (one process each)

def worker(a):
    """Runs in its own process: translates a.input with HF or CTranslate2 and prints one JSON."""
    lines = [l.rstrip("\n") for l in open(a.input, encoding="utf-8")]
    batches = [lines[i:i + a.batch_size] for i in range(0, len(lines), a.batch_size)]
    from transformers import MarianTokenizer
    tokenizer = MarianTokenizer.from_pretrained(a.model)
    pad = tokenizer.pad_token_id
    forced = a.min_length > 0
    tokens, ends = 0, []
    if a.worker == "hf":
        import torch
        from transformers import MarianMTModel
        torch.set_num_threads(a.threads)
        model = MarianMTModel.from_pretrained(a.model).eval()
        options = dict(num_beams=a.beam, max_length=a.max_length, do_sample=False,
                       early_stopping=True)
        if forced:
            options["min_length"] = a.min_length
        with torch.inference_mode():
            for i, batch in enumerate(batches):
                inputs = tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                   max_length=512)
                out = model.generate(**inputs, **options)
                if i > 0:
                    tokens += int((out[:, 1:] != pad).sum())
                ends.append(time.perf_counter())
    else:
        import ctranslate2
        converted = a.ct2_dir  # the driver's work folder, never beside the model
        if a.vmap:
            converted += "-vmap"
        if not os.path.exists(os.path.join(converted, "model.bin")):
            ctranslate2.converters.TransformersConverter(a.model).convert(converted, vmap=a.vmap,
                                                                          force=True)
        translator = ctranslate2.Translator(converted, device="cpu", compute_type=a.compute_type,
                                            inter_threads=1, intra_threads=a.threads)
        # CTranslate2 counts decoding steps without the start token: HF's max_length - 1.
        options = dict(beam_size=a.beam, max_decoding_length=a.max_length - 1,
                       return_end_token=True, use_vmap=bool(a.vmap))
        if forced:
            options["min_decoding_length"] = a.min_length - 1
        for i, batch in enumerate(batches):
            pieces = [tokenizer.convert_ids_to_tokens(tokenizer(s).input_ids) for s in batch]
            results = translator.translate_batch(pieces, **options)
            if i > 0:  # with its end token, as HF's count has it (not the start token)
                tokens += sum(len(r.hypotheses[0]) for r in results)
            ends.append(time.perf_counter())
    window = ends[-1] - ends[0]
    print(json.dumps({"target_tokens": tokens, "window_s": window,
                      "sentences": len(lines) - len(batches[0]),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# ------------------------------------------------------------------ the driver

def run_ftune(a, binary, model, sources_file, beam, batch, mode, max_length, min_length,
              workdir, vmap=None):
    import run as bench_run  # bench/run.py: the pseudo-terminal progress reader
    output = os.path.join(workdir, "ftune-out.jsonl")
    command = [binary, "--threads", str(a.threads), "translate", "--model", model, "--input",
               sources_file, "--output", output, "--beam", str(beam), "--max-length",
               str(max_length), "--batch-size", str(batch), "--early-stopping"]
    # auto: oneDNN's packed GEMM (libdnnl in the Debian build, LibTorch's in the torch2 build).
    # bf16: --precision bf16 (Linear layers packed as bfloat16 where libdnnl has native bf16).
    command += {"int8": ["--quantize", "int8"],
                "bf16": ["--precision", "bf16"]}.get(mode, ["--cpu-gemm", mode])
    if min_length:
        command += ["--min-length", str(min_length)]
    if vmap:
        command += ["--vocab-shortlist", vmap]
    r = bench_run.run_process(command, dict(os.environ), os.path.join(workdir, "ftune.log"),
                              pty_stderr=True)
    if r["rc"] != 0:
        raise SystemExit(f"ftune failed: {' '.join(command)}\n"
                         + open(os.path.join(workdir, "ftune.log"), errors="replace").read()[-2000:])
    events = [e for e in r["progress"] if e[1] >= batch]  # from the end of the first batch
    (t_first, done_first, _), (t_last, done_last, _) = events[0], events[-1]
    if t_last <= t_first:
        raise SystemExit(f"ftune finished {model} in one progress redraw (0.1 s): too few "
                         "sentences to time; raise --sentences / --fixture-sentences")
    pad = json.load(open(os.path.join(model, "config.json")))["pad_token_id"]
    outputs = [json.loads(l)["ids"] for l in open(output)]
    tokens = sum(sum(1 for i in ids[1:] if i != pad) for ids in outputs[done_first:done_last])
    return {"target_tokens": tokens, "window_s": t_last - t_first,
            "sentences": done_last - done_first, "peak_rss_mib": r["peak_rss_mib"]}


def run_worker(a, tool, model, sources_file, beam, batch, max_length, min_length, vmap=None):
    kind, _, compute_type = tool.split("+")[0].partition(":")
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", model,
               "--input", sources_file, "--beam", str(beam), "--batch-size", str(batch),
               "--max-length", str(max_length), "--min-length", str(min_length), "--threads",
               str(a.threads), "--compute-type", compute_type or "float32", "--ct2-dir",
               os.path.join(a.workdir, os.path.basename(model.rstrip("/")) + "-ct2")]
    if vmap:
        command += ["--vmap", vmap]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


TOOLS = ["ftune:auto", "ftune:blas", "ftune:int8", "hf", "ct2:float32", "ct2:int8"]
NAMES = {"ftune:auto": "ftune fp32", "ftune:blas": "ftune fp32 --cpu-gemm blas",
         "ftune:int8": "ftune int8", "ftune:bf16": "ftune bf16 (--precision bf16)",
         "before:auto": "ftune fp32, --ftune-before",
         "hf": "HF generate fp32",
         "ct2:float32": "CTranslate2 fp32", "ct2:int8": "CTranslate2 int8"}
NAMES.update({f"{tool}+vmap": f"{name}, shortlist" for tool, name in list(NAMES.items())
              if tool != "hf"})


def multi30k_train_pairs(workdir):
    """Multi30k train (en, de) as a .jsonl of pairs, for `ftune shortlist`."""
    path = os.path.join(workdir, "multi30k-train.jsonl")
    if not os.path.exists(path):
        def read(name):
            with gzip.open(os.path.join(SHARED, "multi30k", name), "rt", encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f]
        with open(path, "w", encoding="utf-8") as f:
            for s, t in zip(read("train.en.gz"), read("train.de.gz")):
                f.write(json.dumps({"source": s, "target": t}, ensure_ascii=False) + "\n")
    return path


def make_vmap(a, name, model):
    """`ftune shortlist` (default settings) for `model` from Multi30k train, made once."""
    path = os.path.join(a.workdir, f"{name}-vmap.txt")
    if not os.path.exists(path):
        subprocess.run([a.ftune, "shortlist", "--model", model, "--data",
                        multi30k_train_pairs(a.workdir), "--output", path], check=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=["hf", "ct2"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--beam", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--max-length", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--min-length", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--compute-type", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--ct2-dir", help=argparse.SUPPRESS)
    parser.add_argument("--vmap", help=argparse.SUPPRESS)
    parser.add_argument("--ftune", default=os.path.join(REPO, "build-torch2", "ftune"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["opus", "fixture"])
    parser.add_argument("--beams", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--ftune-before", help="a second ftune binary (e.g. the previous "
                        "commit's build) for the tool before:auto, interleaved with the others")
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=list(NAMES))
    parser.add_argument("--sentences", type=int, default=48,
                        help="sources at batch 16 (the first batch is the warm-up)")
    parser.add_argument("--sentences-batch1", type=int, default=9,
                        help="sources at batch 1 (the first one is the warm-up)")
    parser.add_argument("--fixture-sentences", type=int, default=400,
                        help="the same for the (tiny, fast) fixture model")
    parser.add_argument("--fixture-sentences-batch1", type=int, default=48)
    parser.add_argument("--opus-length", type=int, default=64)
    parser.add_argument("--table-only", action="store_true",
                        help="print the table of WORKDIR/results.jsonl and run nothing")
    parser.add_argument("--workdir", default=os.path.join(REPO, "build", "translate-bench"))
    a = parser.parse_args()
    if a.worker:
        return worker(a)
    os.makedirs(a.workdir, exist_ok=True)
    results_file = os.path.join(a.workdir, "results.jsonl")
    if a.table_only:
        return print_table(a, results_file)

    import int8 as int8_bench  # the OPUS-shaped folder, made once with this Python
    models = {"opus": int8_bench.make_opus_model(sys.executable, os.path.join(REPO, "build",
                                                                               "int8")),
              "fixture": os.path.join(REPO, "tests", "fixtures", "marian-mt")}
    print(f"load before: {open('/proc/loadavg').read().strip()}", flush=True)
    for name in a.models:
        forced = name == "opus"
        max_length = a.opus_length if forced else 64  # the fixture's max_position_embeddings
        min_length = a.opus_length if forced else 0
        vmap = make_vmap(a, name, models[name]) if any("+vmap" in t for t in a.tools) else None
        for beam in a.beams:
            for batch in a.batches:
                if name == "fixture":
                    count = a.fixture_sentences if batch > 1 else a.fixture_sentences_batch1
                else:
                    count = a.sentences if batch > 1 else a.sentences_batch1
                sources_file = os.path.join(a.workdir, f"sources-{count}.txt")
                with open(sources_file, "w", encoding="utf-8") as f:
                    f.write("\n".join(sources(count)) + "\n")
                for r in range(a.runs):
                    order = a.tools[r % len(a.tools):] + a.tools[:r % len(a.tools)]
                    for tool in order:
                        tool_vmap = vmap if tool.endswith("+vmap") else None
                        if tool.startswith(("ftune", "before")):
                            binary = a.ftune_before if tool.startswith("before") else a.ftune
                            out = run_ftune(a, binary, models[name], sources_file, beam, batch,
                                            tool.split("+")[0].split(":")[1], max_length,
                                            min_length, a.workdir, tool_vmap)
                        else:
                            out = run_worker(a, tool, models[name], sources_file, beam, batch,
                                             max_length, min_length, tool_vmap)
                        out["tokens_per_s"] = out["target_tokens"] / out["window_s"]
                        line = json.dumps({"model": name, "beam": beam, "batch": batch,
                                           "tool": tool, "run": r, **out,
                                           "load_after": os.getloadavg()[0]})
                        print(line, flush=True)
                        with open(results_file, "a") as f:
                            f.write(line + "\n")
    print(f"load after: {open('/proc/loadavg').read().strip()}\n")
    print_table(a, results_file)


def print_table(a, results_file):
    """Medians per (model, beam, batch, tool) over every run results.jsonl holds."""
    records = [json.loads(l) for l in open(results_file)] if os.path.exists(results_file) else []
    rows = []
    for name in a.models:
        for beam in a.beams:
            for batch in a.batches:
                cell = {}
                for tool in a.tools:
                    xs = [x for x in records if (x["model"], x["beam"], x["batch"], x["tool"])
                          == (name, beam, batch, tool)]
                    if xs:
                        cell[tool] = {
                            "tokens_per_s": statistics.median(x["tokens_per_s"] for x in xs),
                            "peak_rss_mib": statistics.median(x["peak_rss_mib"] for x in xs),
                            "runs": len(xs)}
                if cell:
                    rows.append((name, beam, batch, cell))
    header = " | ".join(NAMES[t] for t in a.tools)
    print(f"| model | beam | batch | {header} |")
    print("|---|---|---|" + "---|" * len(a.tools))
    for name, beam, batch, cell in rows:
        hf = cell.get("hf", {}).get("tokens_per_s")
        values = []
        for tool in a.tools:
            if tool not in cell:
                values.append("-")
                continue
            v = cell[tool]["tokens_per_s"]
            ratio = f" ({v / hf:.2f}x)" if hf and tool != "hf" else ""
            values.append(f"{v:,.0f}{ratio}, {cell[tool]['peak_rss_mib']:.0f} MiB")
        print(f"| {name} | {beam} | {batch} | " + " | ".join(values) + " |")
    print("\ntarget tokens/s (ratio to HF generate), peak RSS; medians of the interleaved runs "
          "in results.jsonl")


if __name__ == "__main__":
    main()
