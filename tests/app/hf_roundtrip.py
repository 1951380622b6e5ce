"""The Hugging Face side of tests/app/hf_roundtrip_test.cpp, run with a Python that has torch and
a current transformers (the torch venv of scripts/install-torch2.sh):

  hf_roundtrip.py logits MODEL_DIR TEXTS_JSONL   prints {"logits": [[...], ...]}: the folder loaded
      with AutoModelForSequenceClassification / AutoTokenizer (fast), in eval mode, float32
  hf_roundtrip.py torchscript-logits EXPORT_DIR TEXTS_JSONL   `ftune export`'s EXPORT_DIR/model.pt
      run by torch.jit.load alone, on the texts tokenized by AutoTokenizer from EXPORT_DIR (padded
      batch); prints {"logits": [[...], ...]}
  hf_roundtrip.py save MODEL_DIR OUT_DIR         from_pretrained + save_pretrained with this release
      (safetensors, tokenizer.json), then vocab.txt removed: a folder as current HF writes it
  hf_roundtrip.py train-reference MODEL_DIR DATA_JSONL   the fixtures' fixed-batch training
      reference (tests/fixtures/generators/fixture_common.train_reference: AdamW, linear warmup,
      clipping; batches rows 0-7 and 8-15) of the folder loaded with
      AutoModelForSequenceClassification, with HF's own loss for its problem_type: regression
      (MSE on the numeric labels) or multi_label_classification (BCE with logits on the label
      lists, or 'a | b' cells, as 0/1 rows); prints {"steps": [{"step", "loss", "grad_norm", "lr"}, ...]}
  hf_roundtrip.py ner-train-reference MODEL_DIR DATA_CONLL   the same fixed-batch reference for
      token classification: the folder loaded with AutoModelForTokenClassification, the CoNLL
      sentences tokenized with is_split_into_words=True and labelled as run_ner does (first
      sub-word; -100 elsewhere and at padding), the model's own loss
  hf_roundtrip.py ner-predict MODEL_DIR DATA_CONLL   per sentence {"tags", "scores"}: the tag of
      each word (argmax at its first sub-word, as run_ner evaluates) and its softmax probability
  hf_roundtrip.py tokenize-data MODEL_DIR OUT_DIR    every line of the English text data (the
      bundled assets/data, and where present ../shared/data's Financial PhraseBank, Banking77,
      CLINC150, SST-2, MRPC pairs and Multi30k English) into OUT_DIR/texts.jsonl, and the
      input_ids BertTokenizerFast gives for each into OUT_DIR/hf.jsonl (no truncation); the slow
      BertTokenizer is run on every row too. Prints {"rows", "sources", "slow_differs"}
"""
import csv
import glob
import gzip
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def logits(model_dir, texts_jsonl):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    rows = [json.loads(line) for line in open(texts_jsonl, encoding="utf-8")]
    encoded = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
    with torch.no_grad():
        out = model(**encoded).logits
    print(json.dumps({"logits": out.tolist(), "fast": tokenizer.is_fast}))


def torchscript_logits(export_dir, texts_jsonl):
    module = torch.jit.load(os.path.join(export_dir, "model.pt"))
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    rows = [json.loads(line) for line in open(texts_jsonl, encoding="utf-8")]
    encoded = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
    with torch.no_grad():
        out = module(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    print(json.dumps({"logits": out.tolist()}))


def save(model_dir, out_dir):
    AutoModelForSequenceClassification.from_pretrained(model_dir).save_pretrained(
        out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out_dir)
    vocab = os.path.join(out_dir, "vocab.txt")
    if os.path.exists(vocab):
        os.remove(vocab)
    print(json.dumps({"files": sorted(os.listdir(out_dir))}))


def train_reference(model_dir, data_jsonl):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "fixtures", "generators"))
    import fixture_common as fc
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir,
                                                               attn_implementation="eager")
    rows = [json.loads(line) for line in open(data_jsonl, encoding="utf-8")]
    encoded = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
    if model.config.problem_type == "regression":
        labels = torch.tensor([float(r["label"]) for r in rows])
    else:
        assert model.config.problem_type == "multi_label_classification"
        labels = torch.zeros(len(rows), model.config.num_labels)
        for i, r in enumerate(rows):
            names = r["label"] if isinstance(r["label"], list) else r["label"].split("|")
            for name in names:
                labels[i, model.config.label2id[name.strip()]] = 1.0

    def loss_fn(m, batch):
        idx = torch.tensor(batch)
        return m(**{k: v[idx] for k, v in encoded.items()}, labels=labels[idx]).loss

    _, _, _, steps = fc.train_reference(model, [list(range(0, 8)), list(range(8, 16))], loss_fn)
    print(json.dumps({"steps": steps}))


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


def ner_batch(model_dir, data_conll):
    from transformers import AutoModelForTokenClassification
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir, attn_implementation="eager")
    sentences = read_conll(data_conll)
    encoded = tokenizer([words for words, _ in sentences], is_split_into_words=True,
                        padding=True, truncation=True, max_length=128, return_tensors="pt")
    labels = torch.full(encoded["input_ids"].shape, -100)
    first = torch.zeros(encoded["input_ids"].shape, dtype=torch.bool)
    for b, (_, tags) in enumerate(sentences):
        previous = None
        for t, word in enumerate(encoded.word_ids(b)):
            if word is not None and word != previous:
                labels[b, t] = model.config.label2id[tags[word]]
                first[b, t] = True
            previous = word
    return model, sentences, encoded, labels, first


def ner_train_reference(model_dir, data_conll):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "fixtures", "generators"))
    import fixture_common as fc
    model, _, encoded, labels, _ = ner_batch(model_dir, data_conll)

    def loss_fn(m, batch):
        idx = torch.tensor(batch)
        return m(**{k: v[idx] for k, v in encoded.items()}, labels=labels[idx]).loss

    _, _, _, steps = fc.train_reference(model, [list(range(0, 8)), list(range(8, 16))], loss_fn)
    print(json.dumps({"steps": steps}))


def ner_predict(model_dir, data_conll):
    model, sentences, encoded, _, first = ner_batch(model_dir, data_conll)
    with torch.no_grad():
        probs = model.eval()(**encoded).logits.softmax(-1)
    out = []
    for b in range(len(sentences)):
        best = probs[b][first[b]]  # (words, L), the first sub-words in word order
        out.append({"tags": [model.config.id2label[int(i)] for i in best.argmax(-1)],
                    "scores": best.max(-1).values.tolist()})
    print(json.dumps({"sentences": out}))


def data_rows():
    """(source, text, text_pair) for every text of the data tokenize-data covers."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shared = os.path.join(repo, "..", "shared", "data")

    def table(path, text, pair=None, delimiter=","):
        if not os.path.exists(path):
            return []
        with open(path, newline="", encoding="utf-8-sig") as f:
            quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
            source = os.path.relpath(path, repo).replace(os.path.join("..", "shared", "data"), "shared")
            return [(source, r[text], r[pair] if pair else None)
                    for r in csv.DictReader(f, delimiter=delimiter, quoting=quoting)]

    rows = []
    for path in sorted(glob.glob(os.path.join(repo, "assets", "data", "*", "*.csv"))):
        rows += table(path, "text")
    phrasebank = os.path.join(shared, "financial_phrasebank", "Sentences_50Agree.txt")
    if os.path.exists(phrasebank):
        with open(phrasebank, encoding="latin-1") as f:
            rows += [("shared/financial_phrasebank", line.rsplit("@", 1)[0], None) for line in f]
    rows += table(os.path.join(shared, "banking77", "train.csv"), "text")
    clinc = os.path.join(shared, "clinc150", "data_full_train_val.json")
    if os.path.exists(clinc):
        for split, items in json.load(open(clinc, encoding="utf-8")).items():
            rows += [(f"shared/clinc150/{split}", text, None) for text, _ in items]
    for name in ("train.tsv", "dev.tsv"):
        rows += table(os.path.join(shared, "sst2", name), "sentence", delimiter="\t")
        rows += table(os.path.join(shared, "mrpc", name), "#1 String", "#2 String", "\t")
    for name in ("train.en.gz", "val.en.gz", "test_2016_flickr.en.gz"):
        path = os.path.join(shared, "multi30k", name)
        if os.path.exists(path):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows += [(f"shared/multi30k/{name}", line.rstrip("\n"), None) for line in f]
    return rows


def tokenize_data(model_dir, out_dir):
    from transformers import BertTokenizer, BertTokenizerFast
    fast = BertTokenizerFast.from_pretrained(model_dir)
    slow = BertTokenizer.from_pretrained(model_dir)
    rows = data_rows()
    sources = {}
    slow_differs = []
    with open(os.path.join(out_dir, "texts.jsonl"), "w", encoding="utf-8") as texts, \
            open(os.path.join(out_dir, "hf.jsonl"), "w", encoding="utf-8") as ids:
        for number, (source, text, pair) in enumerate(rows):
            sources[source] = sources.get(source, 0) + 1
            line = {"text": text} if pair is None else {"text": text, "text_pair": pair}
            texts.write(json.dumps(line, ensure_ascii=False) + "\n")
            input_ids = fast(text, pair)["input_ids"]
            ids.write(json.dumps(input_ids) + "\n")
            if slow(text, pair)["input_ids"] != input_ids:
                slow_differs.append({"row": number, "source": source, "text": text})
    print(json.dumps({"rows": len(rows), "sources": sources, "slow_differs": slow_differs}))


if __name__ == "__main__":
    {"logits": logits, "save": save, "train-reference": train_reference,
     "tokenize-data": tokenize_data, "ner-train-reference": ner_train_reference,
     "ner-predict": ner_predict,
     "torchscript-logits": torchscript_logits}[sys.argv[1]](*sys.argv[2:])
