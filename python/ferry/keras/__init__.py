"""Keras 3 back end: builds a Keras model from Ferry's TF-level graph (docs/tf_ops.md)."""

import os

from ferry.quiet import quiet_stderr

# Not when the user asked for TF's logs. Device probing logs too, at TF's first op even when
# the user imported TF: probe now, quietly.
if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") != "0":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()

from ferry.keras.builder import KerasBuild, build_keras_model  # noqa: E402
from ferry.keras.layers import FerryConstant, FerryOp, FerryUserOp  # noqa: E402

__all__ = ["FerryConstant", "FerryOp", "FerryUserOp", "KerasBuild", "build_keras_model"]
