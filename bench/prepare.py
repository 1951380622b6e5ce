#!/usr/bin/python3
"""Builds what both tools need for one benchmark case, in a work folder outside the repository:
random-init model folders made by the baseline's own transformers (same seed, config and tokenizer
files as ../shared/baseline/hf_*_bench.py), and the data in ftune's formats with per-row token
counts. Not a benchmark itself; bench/run.py calls it. Idempotent: finished items are kept.

  TRANSFORMERS_SRC=... /usr/bin/python3 bench/prepare.py --workdir DIR --bert tiny,mini \
      --marian small --train-rows 1056 --dev-copies 2 --sentences 64
"""
import argparse
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.environ.get("BASELINE_DIR", os.path.join(HERE, "..", "..", "shared", "baseline"))
sys.path.insert(0, os.path.abspath(BASELINE))
import common  # noqa: E402  (the baseline's own paths, presets and SST-2 reader)
import hf_generate_bench  # noqa: E402  (its Marian presets)

SEED = 42  # the baseline scripts' default --seed


def write_jsonl(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def make_bert_folder(out, preset, tok):
    """BertForSequenceClassification exactly as hf_train_bench/hf_eval_bench build it."""
    if os.path.isfile(os.path.join(out, "config.json")):
        return
    from transformers import BertConfig, BertForSequenceClassification, set_seed
    set_seed(SEED)
    cfg = BertConfig(vocab_size=tok.vocab_size, num_labels=2, max_position_embeddings=512,
                     id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1},
                     **common.BERT_PRESETS[preset])
    model = BertForSequenceClassification(cfg)
    tmp = out + ".tmp"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, out)


def make_marian_folder(out, preset):
    """MarianMTModel + MarianTokenizer files exactly as hf_generate_bench builds them."""
    if os.path.isfile(os.path.join(out, "config.json")):
        return
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer, set_seed
    tok = MarianTokenizer(vocab=common.OPUS_VOCAB, source_spm=common.OPUS_SOURCE_SPM,
                          target_spm=common.OPUS_TARGET_SPM, source_lang="en", target_lang="mg")
    with open(common.OPUS_VOCAB, encoding="utf-8") as f:
        vocab_size = len(json.load(f))
    set_seed(SEED)
    cfg = MarianConfig(vocab_size=vocab_size, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
                       max_position_embeddings=512, bad_words_ids=[[tok.pad_token_id]],
                       scale_embedding=True, share_encoder_decoder_embeddings=True,
                       activation_function="swish", static_position_embeddings=True,
                       **hf_generate_bench.PRESETS[preset])
    model = MarianMTModel(cfg)
    tmp = out + ".tmp"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, out)


def token_counts(tok, sents, max_length):
    enc = tok(sents, truncation=True, max_length=max_length)
    return [sum(m) for m in enc["attention_mask"]]


def make_sst2(workdir, tok, train_rows, dev_copies, max_length):
    """SST-2 rows as JSONL (text, label) + their non-pad token counts (BertTokenizer, as HF)."""
    train = os.path.join(workdir, "sst2-train-%d.jsonl" % train_rows)
    if train_rows and not os.path.isfile(train):
        sents, labels = common.read_sst2(common.SST2_TRAIN, train_rows)
        write_jsonl(train + ".lengths", [token_counts(tok, sents, max_length)])
        write_jsonl(train, [{"text": s, "label": str(y)} for s, y in zip(sents, labels)])
    dev = os.path.join(workdir, "sst2-dev-x%d.jsonl" % dev_copies)
    if dev_copies and not os.path.isfile(dev):
        sents, labels = common.read_sst2(common.SST2_DEV)
        write_jsonl(dev + ".lengths", [token_counts(tok, sents, max_length) * dev_copies])
        write_jsonl(dev, [{"text": s, "label": str(y)} for s, y in zip(sents, labels)] * dev_copies)


def make_packed(workdir, tok, rows, length):
    """Rows of exactly `length` tokens after truncation (consecutive SST-2 train sentences joined
    until they are long enough), for sequence-length sweeps without padding. Written as JSONL for
    ftune and as TSV (sentence, label) for the baseline's --data."""
    base = os.path.join(workdir, "sst2-packed%d-%d" % (length, rows))
    if os.path.isfile(base + ".jsonl"):
        return
    sents, labels = common.read_sst2(common.SST2_TRAIN, rows * (length // 4 + 2))
    counts = [len(ids) - 2 for ids in tok(sents)["input_ids"]]  # without [CLS] and [SEP]
    texts, i = [], 0
    while len(texts) < rows:
        parts, n = [], 0
        while n < length - 2:
            parts.append(sents[i].strip())
            n += counts[i]
            i += 1
        texts.append(" ".join(parts))
    labels = labels[:rows]
    assert all(c == length for c in token_counts(tok, texts, length))
    write_jsonl(base + ".jsonl.lengths", [[length] * rows])
    with open(base + ".tsv", "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        f.writelines("%s\t%d\n" % (t, y) for t, y in zip(texts, labels))
    write_jsonl(base + ".jsonl", [{"text": t, "label": str(y)} for t, y in zip(texts, labels)])


def make_multi30k(workdir, sentences):
    """The first N English sentences of Multi30k val, one per line (what hf_generate_bench reads)."""
    path = os.path.join(workdir, "multi30k-val-%d.txt" % sentences)
    if os.path.isfile(path):
        return
    with gzip.open(common.MULTI30K_VAL_EN, "rt", encoding="utf-8") as f:
        sents = [next(f).rstrip("\n") for _ in range(sentences)]
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(sents) + "\n")
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True)
    p.add_argument("--bert", default="", help="comma-separated BERT presets")
    p.add_argument("--marian", default="", help="comma-separated Marian presets")
    p.add_argument("--train-rows", type=int, default=0, help="first N rows of SST-2 train (0 = none)")
    p.add_argument("--dev-copies", type=int, default=0, help="SST-2 dev repeated N times (0 = none)")
    p.add_argument("--sentences", type=int, default=0, help="first N Multi30k val sources (0 = none)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--packed", action="store_true",
                   help="train rows of exactly --max-length tokens (joined sentences), not SST-2's own")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    common.setup_transformers()
    from transformers import BertTokenizer
    tok = BertTokenizer(common.BERT_VOCAB, do_lower_case=True)
    for preset in filter(None, a.bert.split(",")):
        make_bert_folder(os.path.join(a.workdir, "bert-" + preset), preset, tok)
    for preset in filter(None, a.marian.split(",")):
        make_marian_folder(os.path.join(a.workdir, "marian-" + preset), preset)
    if a.packed and a.train_rows:
        make_packed(a.workdir, tok, a.train_rows, a.max_length)
    elif a.train_rows or a.dev_copies:
        make_sst2(a.workdir, tok, a.train_rows, a.dev_copies, a.max_length)
    if a.sentences:
        make_multi30k(a.workdir, a.sentences)


if __name__ == "__main__":
    main()
