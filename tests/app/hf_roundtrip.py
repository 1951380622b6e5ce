"""The Hugging Face side of tests/app/hf_roundtrip_test.cpp, run with a Python that has torch and
a current transformers (the torch venv of scripts/install-torch2.sh):

  hf_roundtrip.py logits MODEL_DIR TEXTS_JSONL   prints {"logits": [[...], ...]}: the folder loaded
      with AutoModelForSequenceClassification / AutoTokenizer (fast), in eval mode, float32
  hf_roundtrip.py save MODEL_DIR OUT_DIR         from_pretrained + save_pretrained with this release
      (safetensors, tokenizer.json), then vocab.txt removed: a folder as current HF writes it
"""
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


def save(model_dir, out_dir):
    AutoModelForSequenceClassification.from_pretrained(model_dir).save_pretrained(
        out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out_dir)
    vocab = os.path.join(out_dir, "vocab.txt")
    if os.path.exists(vocab):
        os.remove(vocab)
    print(json.dumps({"files": sorted(os.listdir(out_dir))}))


if __name__ == "__main__":
    {"logits": logits, "save": save}[sys.argv[1]](*sys.argv[2:])
