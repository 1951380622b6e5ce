"""Runs one of ../shared/baseline's benchmarks (hf_train_bench.py, hf_eval_bench.py) on a current
PyTorch + transformers instead of the pinned transformers 4.19 on Debian's torch 1.13: the second
anchor of issue #22 (users today run torch 2.x, with its newer oneDNN and MKL).

Run it with the interpreter of the venv that scripts/install-torch2.sh makes (torch 2.11,
transformers 4.57.6):

  ~/.cache/ftune/venv-torch-2.11.0/bin/python bench/hf_current.py hf_train_bench.py --preset tiny ...

The shared scripts are run unchanged. What differs in transformers 4.57 is bridged here, and only
that: TrainingArguments renamed `evaluation_strategy` to `eval_strategy` and `no_cuda` to
`use_cpu`; Trainer._get_train_sampler takes the dataset as an argument (the train script's
sequential-order override takes none); the scripts' TRANSFORMERS_SRC import path is pointed at the installed package.
"""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.environ.get("BASELINE_DIR", os.path.join(HERE, "..", "..", "shared", "baseline"))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("hf_train_bench.py", "hf_eval_bench.py"):
        raise SystemExit("usage: hf_current.py hf_train_bench.py|hf_eval_bench.py [its options]")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    # common.setup_transformers() wants a folder holding transformers/: the installed one.
    os.environ["TRANSFORMERS_SRC"] = os.path.dirname(os.path.dirname(transformers.__file__))
    # The classes themselves are patched: the package's lazy names are re-bound on later imports.
    from transformers import Trainer, TrainingArguments

    def init_subclass(cls, **kw):
        own = cls.__dict__.get("_get_train_sampler")
        if own is not None and own.__code__.co_argcount == 1:
            cls._get_train_sampler = lambda self, train_dataset=None: own(self)

    Trainer.__init_subclass__ = classmethod(init_subclass)
    renamed = {"evaluation_strategy": "eval_strategy", "no_cuda": "use_cpu"}
    init = TrainingArguments.__init__
    TrainingArguments.__init__ = lambda self, **kw: init(self, **{renamed.get(k, k): v
                                                                  for k, v in kw.items()})
    script = os.path.join(BASELINE, sys.argv[1])
    sys.argv = [script] + sys.argv[2:]
    sys.path.insert(0, BASELINE)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
