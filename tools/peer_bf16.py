"""Run the PyTorch peer script with the Trainer's bf16=True (CPU autocast to bfloat16), unchanged otherwise.

For comparing the suite's `--precision mixed_bfloat16` with PyTorch doing the same. Runs in the
peer's own venv (torch is never a dependency of the project):

    CKPT=... GLUE_DIR=... [OUT=...] /tmp/torch-peer/bin/python tools/peer_bf16.py PEER_SCRIPT
"""
import runpy
import sys

import transformers

Plain = transformers.TrainingArguments


class BF16Arguments(Plain):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, bf16=True, **kwargs)


transformers.TrainingArguments = BF16Arguments  # the script imports it by name after this
runpy.run_path(sys.argv[1], run_name="__main__")
