"""Serves a GGUF over llama.cpp's OpenAI-compatible HTTP server (the xllamacpp wheel) on
127.0.0.1: python3 serve.py MODEL.gguf PORT TEMPLATE.jinja [THREADS]. Prints `ready` once
the model is loaded, then serves until killed."""
import sys
import time

import xllamacpp

model, port, template = sys.argv[1], int(sys.argv[2]), sys.argv[3]
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
params = xllamacpp.CommonParams()
params.model.path = model
params.n_ctx = 8192
params.n_parallel = 1
params.cpuparams.n_threads = threads
params.cpuparams_batch.n_threads = threads
params.hostnames = ["127.0.0.1"]
params.port = port
params.model_alias = {"local"}
with open(template, encoding="utf-8") as f:
    params.chat_template = f.read()
started = time.time()
server = xllamacpp.Server(params)
print(f"ready in {time.time() - started:.1f} s", flush=True)
while True:
    time.sleep(3600)
