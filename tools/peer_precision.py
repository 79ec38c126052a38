"""Run the PyTorch peer script in a reduced-precision mode, unchanged otherwise.

    CKPT=... GLUE_DIR=... [OUT=...] /tmp/torch-peer/bin/python tools/peer_precision.py MODE PEER_SCRIPT

MODE "bf16-matmul": torch.set_float32_matmul_precision("medium"), float32 tensors with bfloat16
matmul products (oneDNN on AMX), as the suite's --matmul-precision bfloat16. MODE "bf16": the
Trainer's bf16=True (CPU autocast), as the suite's --precision mixed_bfloat16. Runs in the
peer's own venv: torch is never a dependency of the project.
"""
import json
import os
import runpy
import sys

import torch
import transformers

mode, script = sys.argv[1], sys.argv[2]
if mode == "bf16-matmul":
    torch.set_float32_matmul_precision("medium")
elif mode == "bf16":
    Plain = transformers.TrainingArguments

    class BF16Arguments(Plain):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, bf16=True, **kwargs)

    transformers.TrainingArguments = BF16Arguments  # the script imports it by name after this
else:
    sys.exit(f"peer_precision.py: MODE must be bf16-matmul or bf16, not {mode!r}")
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
if os.environ.get("OUT"):  # the script's result, with the mode it ran in
    with open(os.environ["OUT"]) as f:
        result = json.load(f)
    with open(os.environ["OUT"], "w") as f:
        json.dump({**result, "peer_mode": mode}, f)
