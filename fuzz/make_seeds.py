#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets to tests/fuzz_corpus/<target>/seed-*.

Small real inputs: the fixture checkpoints' safetensors header and data.pkl, tiny state dicts in
the zip and legacy (pre-1.6) torch.save formats built with a stand-in `torch` module (no PyTorch
needed), and a few lines of the fixture datasets. Run from anywhere: python3 fuzz/make_seeds.py
"""
import collections
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"
FIXTURES = ROOT / "tests" / "fixtures"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


# ----- safetensors -----

def safetensors(tensors, metadata=None, pad=True):
    """tensors: name -> (dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def seed_safetensors():
    write("safetensors", "small", safetensors({
        "a.weight": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
        "a.bias": ("BF16", [2], b"\x80\x3f\x00\x40"),
        "ids": ("I64", [1, 3], struct.pack("<3q", 0, 1, 2)),
        "mask": ("BOOL", [3], b"\x01\x00\x01"),
        "empty": ("F16", [0, 4], b""),
        "scalar": ("F64", [], struct.pack("<d", 0.5)),
    }, metadata={"format": "pt"}))
    write("safetensors", "all-dtypes", safetensors({
        d: (d, [1], b"\x00" * n) for d, n in
        [("F32", 4), ("F16", 2), ("BF16", 2), ("F64", 8), ("I64", 8), ("I32", 4), ("I16", 2),
         ("I8", 1), ("U8", 1), ("BOOL", 1)]}, pad=False))
    write("safetensors", "empty-header", struct.pack("<Q", 2) + b"{}")
    # The real fixture's header with its data cut off (every offset then lies outside the data).
    real = (FIXTURES / "bert-cls" / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", real[:8])
    write("safetensors", "bert-cls-header", real[:8 + n])
    # ... and with each tensor cut to its first element, so the header is valid again.
    header = json.loads(real[8:8 + n])
    size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4}
    small = {k: (v["dtype"], [1] * min(len(v["shape"]), 2), b"\x00" * size[v["dtype"]])
             for k, v in header.items() if k != "__metadata__"}
    write("safetensors", "bert-cls-shrunk", safetensors(small, header.get("__metadata__")))


# ----- pickles: a stand-in torch module, so Python's pickle writes torch.save's opcodes -----

def fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    for name in ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage",
                 "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"]:
        cls = type(name, (), {})
        cls.__module__ = "torch"
        setattr(torch, name, cls)
    for name in ["_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter"]:
        fn = (lambda *args: None)
        fn.__module__, fn.__name__, fn.__qualname__ = "torch._utils", name, name
        setattr(utils, name, fn)
    return torch, utils


TORCH, UTILS = fake_torch()
ITEM = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
        "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
        "ByteStorage": 1, "BoolStorage": 1}


class Storage:
    def __init__(self, kind, key, numel, view=None):
        self.kind, self.key, self.numel, self.view = kind, key, numel, view


class Tensor:
    def __init__(self, storage, offset, shape, stride, rebuild="_rebuild_tensor_v2"):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride
        self.rebuild = rebuild

    def __reduce_ex__(self, protocol):
        if self.rebuild == "_rebuild_tensor":
            return (UTILS._rebuild_tensor, (self.storage, self.offset, self.shape, self.stride))
        return (UTILS._rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.stride,
                                           False, collections.OrderedDict()))


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce_ex__(self, protocol):
        return (UTILS._rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class StatePickler(pickle.Pickler):
    def __init__(self, file, legacy):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        pid = ("storage", getattr(TORCH, obj.kind), obj.key, "cpu", obj.numel)
        return pid + (obj.view,) if self.legacy else pid


def state_dict_pickle(state, legacy=False):
    import io
    buffer = io.BytesIO()
    StatePickler(buffer, legacy).dump(state)
    return buffer.getvalue()


def small_state():
    s0 = Storage("FloatStorage", "0", 6)
    s1 = Storage("LongStorage", "1", 3)
    s2 = Storage("HalfStorage", "2", 4)
    state = collections.OrderedDict()
    state["dense.weight"] = Tensor(s0, 0, (2, 2), (2, 1))
    state["dense.bias"] = Tensor(s0, 4, (2,), (1,))  # shares storage 0
    state["position_ids"] = Tensor(s1, 0, (1, 3), (3, 1))
    state["transposed"] = Tensor(s2, 0, (2, 2), (1, 2), rebuild="_rebuild_tensor")
    state["param"] = Parameter(Tensor(s2, 1, (3,), (1,)))
    state["scalar"] = Tensor(s1, 2, (), ())
    state["empty"] = Tensor(s0, 0, (0, 5), (5, 1))
    return state, [s0, s1, s2]


def seed_pickle():
    for fixture in ["bert-cls", "marian-mt"]:
        with zipfile.ZipFile(FIXTURES / fixture / "pytorch_model.bin") as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            write("pickle", f"{fixture}-data.pkl", z.read(name))
    state, _ = small_state()
    write("pickle", "small", state_dict_pickle(state))
    state = collections.OrderedDict()
    state["x"] = Tensor(Storage("BoolStorage", "k", 1), 0, (1,), (1,))
    state._metadata = collections.OrderedDict({"": {"version": 1}})  # what nn.Module adds
    write("pickle", "metadata", state_dict_pickle(state))


def legacy_file(state, storages):
    out = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    out += state_dict_pickle(state, legacy=True)
    keys = sorted({s.key: s for s in storages})
    out += pickle.dumps(keys, protocol=2)
    by_key = {s.key: s for s in storages}
    for key in keys:
        s = by_key[key]
        out += struct.pack("<q", s.numel) + b"\x01" * (s.numel * ITEM[s.kind])
    return out


def seed_legacy():
    state, storages = small_state()
    write("legacy_checkpoint", "small", legacy_file(state, storages))
    root = Storage("FloatStorage", "r", 10, view=("v", 2, 6))
    state = collections.OrderedDict({"viewed": Tensor(root, 1, (2, 2), (2, 1))})
    write("legacy_checkpoint", "storage-view", legacy_file(state, [root]))
    # The real fixture up to its first storage's bytes: every pickle, then a truncation error.
    real = (FIXTURES / "bert-cls" / "pytorch_model_legacy.bin").read_bytes()
    write("legacy_checkpoint", "bert-cls-truncated", real[: real.index(b"]q") + 4096])


# ----- WordPiece: control byte (see fuzz/wordpiece_fuzzer.cpp), then text -----

def seed_wordpiece():
    texts = [line and json.loads(line)["text"] for line in
             (FIXTURES / "bert-cls" / "texts.jsonl").read_text().splitlines()[:3]]
    samples = texts + [
        "Hello, World! I have a new GPU.",
        "Héllo wörld naïve café — “quotes” … ½",
        "中文字符 and 日本語 mixed with 한국어",
        "[CLS] keep [SEP] specials [MASK] intact [UNK]",
        "tab\tsepar\u00a0ated\u2028line\r\nbreaks\x00nul\x7fcontrol",
        "unaffable " * 20 + "x" * 120,
        "emoji 🤗🏳️‍🌈 and combining e\u0301 a\u0308",
    ]
    for i, text in enumerate(samples):
        for control in (0, 1 | 4 | (16 << 3), 2 | 4):
            write("wordpiece", f"{i}-{control}", bytes([control]) + text.encode("utf-8", "surrogatepass"))
    write("wordpiece", "own-vocab", bytes([3 | 4 | 0x80]) +
          b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\n\nunaffable\tUnAffable!")
    write("wordpiece", "bad-utf8", bytes([0]) + b"caf\xc3 \xff\xfe \xed\xa0\x80 ok")


# ----- NER data: control byte (see fuzz/ner_data_fuzzer.cpp), then the file -----

def seed_ner_data():
    conll, jsonl, tags = 0, 1, 2
    write("ner_data", "conll2003.conll", bytes([conll | tags | (3 << 2) | (1 << 5)]) +
          b"-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\t\nPeter\tB-PER\r\n")
    write("ner_data", "long.conll", bytes([conll | tags]) +
          "".join(f"w{i}x\t{'B-X' if i % 3 == 0 else 'I-X'}\n" for i in range(40)).encode())
    write("ner_data", "words.conll", bytes([conll | (7 << 2) | (7 << 5)]) +
          "Caf\u00e9 \u6771\u4eac\n\u200b\n\nunaffable\n".encode())
    write("ner_data", "tagged.jsonl", bytes([jsonl | tags | (2 << 2)]) +
          b'{"tokens": ["Paris", "is"], "tags": ["B-LOC", "O"]}\n{"tokens": ["a"], "ner_tags": ["O"]}\n')
    write("ner_data", "bad.jsonl", bytes([jsonl | tags]) +
          b'{"tokens": ["a", "b"], "tags": ["O"]}\n{"tokens": [1]}\n')


# ----- tables: control byte (see fuzz/table_fuzzer.cpp), then the file -----

def seed_table():
    csv_, tsv, jsonl, txt = 0, 1, 2, 3
    cli = FIXTURES / "cli"
    write("table", "texts.csv", bytes([csv_]) + (cli / "texts.csv").read_bytes()[:600])
    write("table", "texts.tsv", bytes([tsv]) + (cli / "texts.tsv").read_bytes()[:400])
    write("table", "texts.jsonl", bytes([jsonl]) + (FIXTURES / "bert-cls" / "texts.jsonl").read_bytes()[:400])
    write("table", "empty_text.jsonl", bytes([jsonl]) + (cli / "empty_text_line3.jsonl").read_bytes())
    write("table", "bom-crlf.csv", bytes([csv_]) + b"\xef\xbb\xbftext,label\r\n\"a, \"\"b\"\"\nc\",x\r\nd,y\r\n")
    write("table", "glue.tsv", bytes([tsv]) + b'sentence\tlabel\n"Hi," he said.\t1\n"a\tb"\t0\n"q""q"\t1\n')
    write("table", "quoted-all.tsv", bytes([tsv]) + b'"text"\t"label"\n"x y"\t"1"\n')
    write("table", "latin1.csv", bytes([csv_ | 4]) + b"text,label\ncaf\xe9,1\n")
    write("table", "skip-bad.csv", bytes([csv_ | 8]) + b"text,label\na,1\nb\nc,1,2\n\"open,1\n")
    write("table", "no-header.tsv", bytes([tsv | 16]) + b"a\t1\nb\t2\n")
    write("table", "mixed.jsonl", bytes([jsonl | 8]) +
          b'{"text":"a","label":1,"x":null}\n{"text":"b","label":true,"y":[1,{"z":2}]}\n{bad\n\n{"label":0.5}\n')
    write("table", "lines.txt", bytes([txt]) + "one\ntwo\r\n\nthree \u2028 four\n".encode())
    write("table", "bad-utf8.csv", bytes([csv_]) + b"text,label\nok,1\nbad\xff,2\n")


# ----- tokenizer JSON files and trainer_state.json: control byte (see each fuzzer), then the file -----

def seed_json_files():
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        flag = 1 if name.startswith("special") else 0
        write("wordpiece_json", name, bytes([flag]) + (FIXTURES / "bert-cls" / name).read_bytes())
    write("wordpiece_json", "added-token.json", bytes([1]) +
          b'{"unk_token": {"content": "[UNK]", "lstrip": false}, "additional_special_tokens": ["<s>"]}')
    write("wordpiece_json", "types.json", bytes([0]) +
          b'{"do_lower_case": false, "strip_accents": true, "never_split": ["a"], '
          b'"max_input_chars_per_word": 4}')
    marian = FIXTURES / "marian-mt"
    write("marian_json", "vocab.json", bytes([1]) + marian.joinpath("vocab.json").read_bytes()[:2000]
          .rsplit(b",", 1)[0] + b"}")
    write("marian_json", "language-codes.json", bytes([1]) + b'{">>de<<": 0, ">>fr<<": 1, "a": 1}')
    write("marian_json", "tokenizer_config.json", bytes([0]) +
          marian.joinpath("tokenizer_config.json").read_bytes())
    write("marian_json", "special_tokens_map.json", bytes([0]) +
          marian.joinpath("special_tokens_map.json").read_bytes())
    state = {"global_step": 8, "epoch": 2.0, "total_steps": 12,
             "early_stopping": {"metric": "eval_loss", "best_value": 0.5, "best_step": 4,
                                "stalls": 1},
             "loss_scaler": {"scale": 65536.0, "growth_tracker": 3, "growth_factor": 2.0,
                             "backoff_factor": 0.5, "growth_interval": 2000},
             "best_model_checkpoint": "checkpoint-4"}
    write("trainer_state", "full.json", json.dumps(state, indent=2))
    write("trainer_state", "fresh.json", json.dumps(
        {"global_step": 1, "epoch": 0.5, "total_steps": 2, "best_model_checkpoint": None,
         "early_stopping": {"metric": "loss", "best_value": None, "best_step": 0, "stalls": 0}}))


if __name__ == "__main__":
    seed_safetensors()
    seed_pickle()
    seed_legacy()
    seed_wordpiece()
    seed_table()
    seed_ner_data()
    seed_json_files()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.relative_to(ROOT)}: {len(list(folder.iterdir()))} seeds")
