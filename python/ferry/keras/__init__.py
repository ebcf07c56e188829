"""Keras 3 back end: builds a Keras model from Ferry's TF-level graph (docs/tf_ops.md)."""

from ferry.keras.builder import KerasBuild, build_keras_model
from ferry.keras.layers import FerryConstant, FerryOp, FerryUserOp

__all__ = ["FerryConstant", "FerryOp", "FerryUserOp", "KerasBuild", "build_keras_model"]
