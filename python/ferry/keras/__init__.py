"""Keras 3 back end: builds a Keras model from Ferry's TF-level graph (docs/tf_ops.md)."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines, oneDNN notices) buries the
# conversion tree; keep it quiet unless the user chose a level. No effect if TF is loaded.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ferry.keras.builder import KerasBuild, build_keras_model  # noqa: E402
from ferry.keras.layers import FerryConstant, FerryOp, FerryUserOp  # noqa: E402

__all__ = ["FerryConstant", "FerryOp", "FerryUserOp", "KerasBuild", "build_keras_model"]
