#!/usr/bin/env python3
# The Python side of bench/serve.sh: the server a user would write around a fine-tuned classifier
# folder with the usual stack, FastAPI + uvicorn (one worker process) + Hugging Face transformers,
# answering the JSON of `ftune serve`'s POST /v1/predict:
#   {"inputs": ["a text", ...]} -> {"outputs": [{"label", "label_id", "probs", "logits"}, ...]}
# (probs and logits in label-id order, as ftune writes them), plus GET /health.
#
# Two ways to run the model (--impl):
#   model     (default) AutoTokenizer + AutoModelForSequenceClassification under
#             torch.inference_mode(), one forward per request over its texts (padded together)
#   pipeline  transformers.pipeline("text-classification", top_k=None); no logits in the answer
# The handler is `async def` and calls the model directly, as most examples do: requests run one
# at a time on the event loop (no batching across clients, and no oversubscribed threads).
#
# usage: PYTHON serve_python.py --model DIR [--port 0] [--threads N] [--impl model|pipeline]
# Prints "python serve: listening on http://HOST:PORT" to stderr once it accepts connections
# (the model is loaded before that); SIGTERM/SIGINT stop it (uvicorn's own handling).
import argparse
import contextlib
import os
import socket
import sys


def main():
    p = argparse.ArgumentParser(description="FastAPI + uvicorn + transformers classifier server (bench/serve.sh)")
    p.add_argument("--model", required=True, help="fine-tuned Hugging Face classifier folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081, help="0: a free port (printed)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch.set_num_threads (default: all cores)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text (truncated)")
    p.add_argument("--impl", choices=["model", "pipeline"], default="model")
    p.add_argument("--no-nodelay", action="store_true",
                   help="leave TCP_NODELAY off (uvicorn's default: then each keep-alive answer "
                        "waits ~40 ms for the client's delayed ACK)")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    import transformers
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel
    import uvicorn

    tokenizer = transformers.AutoTokenizer.from_pretrained(a.model)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(a.model).eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    label2id = {v: k for k, v in id2label.items()}
    pipe = None
    if a.impl == "pipeline":
        pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer,
                                     device="cpu", top_k=None)

    def classify(texts):
        if pipe is not None:
            outputs = []
            for scores in pipe(texts, truncation=True, max_length=a.max_length):
                probs = [0.0] * len(id2label)
                for s in scores:
                    probs[label2id[s["label"]]] = s["score"]
                best = max(range(len(probs)), key=probs.__getitem__)
                outputs.append({"label": id2label[best], "label_id": best, "probs": probs})
            return outputs
        with torch.inference_mode():
            enc = tokenizer(texts, padding=True, truncation=True, max_length=a.max_length,
                            return_tensors="pt")
            logits = model(**enc).logits
            probs = logits.softmax(-1)
            best = logits.argmax(-1)
        return [{"label": id2label[int(b)], "label_id": int(b), "probs": pr, "logits": lg}
                for b, pr, lg in zip(best.tolist(), probs.tolist(), logits.tolist())]

    class PredictRequest(BaseModel):
        inputs: list[str]

    # Bind here so that --port 0 can say which port it got (uvicorn would print ":0").
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if not a.no_nodelay:  # accepted connections inherit it (Linux), as ftune serve sets it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((a.host, a.port))
    host, port = sock.getsockname()[:2]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Runs just before uvicorn starts accepting on sock; bench/serve.sh polls /health anyway.
        print(f"python serve: listening on http://{host}:{port}", file=sys.stderr, flush=True)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/v1/predict")
    async def predict(request: PredictRequest):
        if not request.inputs:
            raise HTTPException(status_code=400, detail="inputs: at least one text")
        return {"outputs": classify(request.inputs)}

    # One worker process; no access log (ftune logs no line per request either).
    config = uvicorn.Config(app, workers=1, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
