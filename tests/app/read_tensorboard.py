"""The TensorBoard side of tests/app/report_test.cpp: reads the event files of a --report-to
tensorboard run with the real `tensorboard` package (PyPI; the torch venv of
scripts/install-torch2.sh has it), run with that Python:

  read_tensorboard.py RUNS_DIR   prints {"records": N per file, "scalars": {tag: [[step, value],
      ...]}, "texts": {tag: [text, ...]}}

Every record is first read with TensorBoard's own TFRecord reader, which checks both masked
CRC32Cs (a wrong one is a DataLossError, and this script fails); then EventAccumulator, what the
TensorBoard server uses, gives the scalars and texts.
"""
import glob
import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.util import tensor_util


def main(runs):
    records = {}
    for path in sorted(glob.glob(os.path.join(runs, "*tfevents*"))):
        reader = pywrap_tensorflow.PyRecordReader_New(path, 0, None)
        count = 0
        try:
            while True:
                reader.GetNext()
                count += 1
        except errors.OutOfRangeError:
            pass
        records[os.path.basename(path)] = count
    accumulator = EventAccumulator(runs, size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {tag: [[s.step, s.value] for s in accumulator.Scalars(tag)] for tag in tags["scalars"]}
    texts = {tag: [tensor_util.make_ndarray(t.tensor_proto).item().decode("utf-8")
                   for t in accumulator.Tensors(tag)] for tag in tags["tensors"]}
    print(json.dumps({"records": records, "scalars": scalars, "texts": texts}))


if __name__ == "__main__":
    main(sys.argv[1])
