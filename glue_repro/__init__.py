"""glue_repro: reproduce the Hugging Face course's Keras fine-tuning on GLUE (MRPC first), and time it."""

import os

# transformers' TF models need Keras 2 (tf-keras); this must precede any TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
