"""`--quantize int8` against float32, interleaved in one run (issue #17):

1. accuracy and macro F1 on the held-out test sets of the quality benchmark (bench/quality.py),
   with the models ftune fine-tuned there (all-MiniLM-L6-v2, 384 wide), fp32 vs int8;
2. `ftune eval` speed on the BERT-base shape (768 wide, 12 layers; random weights, a 2-label
   head; SST-2 validation sentences), fp32 vs int8;
3. `ftune eval --task translate` BLEU and speed of the Marian fixture model on Multi30k's test set
   (greedy), fp32 vs int8;
4. with --opus: `ftune translate` speed of an OPUS-MT-shaped MarianMT folder with random weights
   (the baseline's "opus" preset: d_model 512, 6 + 6 layers, FFN 2048; opus-mt-en-mg's tokenizer
   files from ../shared/data/tokenizers, 58k vocabulary; made once with PYTHON) on the first
   --opus-sentences
   Multi30k test sources, greedy and beam 4, fp32 vs int8 (random weights: no BLEU; every output
   forced to 64 tokens, as the baseline's generate bench does, so both decode as many steps).

Each measurement alternates fp32 and int8 `--runs` times and reports medians of the wall time of
the whole command (loading included; int8 also quantizes at load) and their ratio. The load
average is printed before and after. FTUNE may name several binaries (the Debian build links
LibTorch 1.13, whose only quantized engine is oneDNN; the torch2 build links the wheel's, with
fbgemm).

usage: python3 bench/int8.py --quality DIR:TEST [DIR:TEST ...] [--runs 3] [--threads N]
         [--workdir build/int8] [--skip-base] [--skip-translate] [--opus]
  FTUNE="build/ftune build-torch2/ftune"   PYTHON=~/.cache/ftune/venv-torch-2.11.0/bin/python
  (PYTHON makes the random BERT-base folder once, with transformers.)
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")


def run(command):
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds, result


def eval_classify(ftune, threads, model, data, quantize, report):
    seconds, _ = run([ftune, "--threads", str(threads), "eval", "--model", model, "--data", data,
                      "--quantize", quantize, "--report-json", report])
    metrics = json.load(open(report))["metrics"]
    return seconds, metrics["accuracy"], metrics["f1_macro"]


def eval_translate(ftune, threads, model, data, quantize):
    seconds, result = run([ftune, "--threads", str(threads), "eval", "--task", "translate",
                           "--model", model, "--data", data, "--beam", "1", "--quantize",
                           quantize])
    bleu = next(float(line.split()[2]) for line in result.stdout.splitlines()
                if line.startswith("BLEU = "))
    return seconds, bleu


def translate_speed(ftune, threads, model, sources, beam, quantize, output):
    seconds, _ = run([ftune, "--threads", str(threads), "translate", "--model", model, "--input",
                      sources, "--output", output, "--beam", str(beam), "--max-length", "64",
                      "--min-length", "64", "--quantize", quantize])
    return (seconds,)


def make_opus_model(python, workdir):
    folder = os.path.join(workdir, "marian-opus-random")
    if os.path.exists(os.path.join(folder, "config.json")):
        return folder
    tokenizers = os.path.join(SHARED, "tokenizers")
    code = (
        "import json, os, sys, torch, transformers\n"
        "t = sys.argv[2]\n"
        "tok = transformers.MarianTokenizer(vocab=os.path.join(t, 'opus-mt-en-mg.vocab.json'),"
        " source_spm=os.path.join(t, 'opus-mt-en-mg.source.spm'),"
        " target_spm=os.path.join(t, 'opus-mt-en-mg.target.spm'), source_lang='en',"
        " target_lang='mg')\n"
        "torch.manual_seed(42)\n"
        "config = transformers.MarianConfig(vocab_size=len(tok.encoder),"
        " pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,"
        " decoder_start_token_id=tok.pad_token_id, max_position_embeddings=512,"
        " bad_words_ids=[[tok.pad_token_id]], scale_embedding=True,"
        " share_encoder_decoder_embeddings=True, activation_function='swish',"
        " static_position_embeddings=True, d_model=512, encoder_layers=6, decoder_layers=6,"
        " encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,"
        " decoder_ffn_dim=2048)\n"
        "transformers.MarianMTModel(config).save_pretrained(sys.argv[1])\n"
        "tok.save_pretrained(sys.argv[1])\n")
    subprocess.run([python, "-c", code, folder, tokenizers], check=True)
    return folder


def make_base_model(python, workdir):
    folder = os.path.join(workdir, "bert-base-random")
    if os.path.exists(os.path.join(folder, "config.json")):
        return folder
    vocab = os.path.expanduser("~/.cache/ftune/models/all-MiniLM-L6-v2")
    code = (
        "import sys, torch, transformers\n"
        "torch.manual_seed(0)\n"
        "config = transformers.BertConfig(num_labels=2, id2label={0: '0', 1: '1'},"
        " label2id={'0': 0, '1': 1})\n"
        "model = transformers.BertForSequenceClassification(config).eval()\n"
        "model.save_pretrained(sys.argv[1])\n"
        "transformers.BertTokenizerFast.from_pretrained(sys.argv[2]).save_pretrained(sys.argv[1])\n")
    subprocess.run([python, "-c", code, folder, vocab], check=True)
    return folder


def multi30k_test(workdir):
    out = os.path.join(workdir, "multi30k-test.jsonl")
    if not os.path.exists(out):
        en = gzip.open(os.path.join(SHARED, "multi30k", "test_2016_flickr.en.gz"), "rt").read()
        de = gzip.open(os.path.join(SHARED, "multi30k", "test_2016_flickr.de.gz"), "rt").read()
        with open(out, "w", encoding="utf-8") as f:
            for source, target in zip(en.splitlines(), de.splitlines()):
                f.write(json.dumps({"source": source, "target": target}, ensure_ascii=False) + "\n")
    return out


def sst2_sentences(workdir):
    out = os.path.join(workdir, "sst2-dev.jsonl")
    if not os.path.exists(out):
        with open(os.path.join(SHARED, "sst2", "dev.tsv"), encoding="utf-8") as f, \
                open(out, "w", encoding="utf-8") as w:
            next(f)
            for line in f:
                text, label = line.rstrip("\n").rsplit("\t", 1)
                w.write(json.dumps({"text": text, "label": label}) + "\n")
    return out


def interleave(runs, measure):
    """measure(quantize) -> (seconds, *metrics); returns {quantize: [results]}."""
    results = {"none": [], "int8": []}
    for r in range(runs):
        order = ["none", "int8"] if r % 2 == 0 else ["int8", "none"]
        for quantize in order:
            results[quantize].append(measure(quantize))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", nargs="*", default=[], help="MODEL_DIR:TEST_FILE pairs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workdir", default=os.path.join(REPO, "build", "int8"))
    parser.add_argument("--skip-base", action="store_true")
    parser.add_argument("--skip-translate", action="store_true")
    parser.add_argument("--opus", action="store_true", help="also the OPUS-MT shape (random)")
    parser.add_argument("--opus-sentences", type=int, default=100)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    ftunes = os.environ.get("FTUNE", os.path.join(REPO, "build", "ftune")).split()
    python = os.path.expanduser(os.environ.get(
        "PYTHON", "~/.cache/ftune/venv-torch-2.11.0/bin/python"))
    report = os.path.join(args.workdir, "report.json")
    print(f"load before: {open('/proc/loadavg').read().strip()}; threads {args.threads}")
    for ftune in ftunes:
        print(f"\n## {ftune}\n")
        if args.quality:
            print("| test set | rows | fp32 accuracy | int8 accuracy | fp32 macro F1 | int8 macro F1 "
                  "| fp32 s | int8 s | speed-up |")
            print("|---|---|---|---|---|---|---|---|---|")
        for pair in args.quality:
            model, data = pair.split(":")
            rows = sum(1 for _ in open(data))
            results = interleave(args.runs, lambda q: eval_classify(
                ftune, args.threads, model, data, q, report))
            f32, i8 = results["none"], results["int8"]
            t32 = statistics.median(r[0] for r in f32)
            t8 = statistics.median(r[0] for r in i8)
            print(f"| {os.path.basename(data)} | {rows} | {f32[0][1]:.4f} | {i8[0][1]:.4f} | "
                  f"{f32[0][2]:.4f} | {i8[0][2]:.4f} | {t32:.1f} | {t8:.1f} | {t32 / t8:.2f}x |",
                  flush=True)
        if not args.skip_base:
            base = make_base_model(python, args.workdir)
            data = sst2_sentences(args.workdir)
            results = interleave(args.runs, lambda q: eval_classify(
                ftune, args.threads, base, data, q, report))
            t32 = statistics.median(r[0] for r in results["none"])
            t8 = statistics.median(r[0] for r in results["int8"])
            rows = sum(1 for _ in open(data))
            print(f"\nBERT-base shape, eval of {rows} SST-2 sentences: fp32 {t32:.1f} s "
                  f"({rows / t32:.0f} rows/s), int8 {t8:.1f} s ({rows / t8:.0f} rows/s): "
                  f"{t32 / t8:.2f}x", flush=True)
        if not args.skip_translate:
            data = multi30k_test(args.workdir)
            model = os.path.join(REPO, "tests", "fixtures", "marian-mt")
            results = interleave(args.runs, lambda q: eval_translate(
                ftune, args.threads, model, data, q))
            t32 = statistics.median(r[0] for r in results["none"])
            t8 = statistics.median(r[0] for r in results["int8"])
            print(f"\nMarian fixture, Multi30k test (1000 sentences, greedy): BLEU fp32 "
                  f"{results['none'][0][1]:.2f}, int8 {results['int8'][0][1]:.2f}; "
                  f"fp32 {t32:.1f} s, int8 {t8:.1f} s: {t32 / t8:.2f}x", flush=True)
        if args.opus:
            opus = make_opus_model(python, args.workdir)
            sources = os.path.join(args.workdir, f"multi30k-test-{args.opus_sentences}.txt")
            with open(multi30k_test(args.workdir), encoding="utf-8") as f, \
                    open(sources, "w", encoding="utf-8") as w:
                for _, line in zip(range(args.opus_sentences), f):
                    w.write(json.loads(line)["source"] + "\n")
            output = os.path.join(args.workdir, "translations.txt")
            for beam in (1, 4):
                results = interleave(args.runs, lambda q: translate_speed(
                    ftune, args.threads, opus, sources, beam, q, output))
                t32 = statistics.median(r[0] for r in results["none"])
                t8 = statistics.median(r[0] for r in results["int8"])
                print(f"\nOPUS-MT shape (random weights), {args.opus_sentences} Multi30k sources, "
                      f"beam {beam}, 64 tokens each: fp32 {t32:.1f} s, int8 {t8:.1f} s: "
                      f"{t32 / t8:.2f}x", flush=True)
    print(f"\nload after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
