"""Command line: `ferry ops` lists the built-in rules; `ferry convert` converts a model.

  ferry convert my_models:make_net --input 1x3x224x224 --out net.keras
  ferry convert my_models:make_net --input 1x3x224x224 --out net.tflite [--float16]
where `make_net` is a module-level nn.Module class or a function returning a module.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile


def _ops(_: argparse.Namespace) -> int:
    from ferry.core_bridge import rules

    for op, mapping in rules():
        print(f"{op:55s} -> {mapping}")
    return 0


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape like 1x3x224x224, got {text!r}"
        ) from None


def _convert(opts: argparse.Namespace) -> int:
    import torch

    import ferry

    module_name, _, attr = opts.model.partition(":")
    if not attr:
        print(
            "ferry: the model is given as module:attribute, e.g. my_models:make_net",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, os.getcwd())
    factory = getattr(importlib.import_module(module_name), attr)
    model = factory() if not isinstance(factory, torch.nn.Module) else factory
    if not isinstance(model, torch.nn.Module):
        print(f"ferry: {opts.model} did not give a torch.nn.Module", file=sys.stderr)
        return 2
    order = ferry.ChannelOrder(opts.channel_order)
    inputs = [torch.rand(*shape) for shape in opts.input]
    if opts.out.endswith(".tflite"):
        # Ferry's own writer: no TensorFlow involved, written atomically after validation.
        ferry.pytorch_to_tflite(
            model.eval(),
            inputs,
            inputs_channel_order=order,
            outputs_channel_order=order,
            path=opts.out,
            validation_tolerance=opts.tolerance,
            float16_weights=opts.float16,
        )
        print(f"wrote {opts.out}")
        return 0
    if opts.float16:
        print("ferry: --float16 applies to .tflite output only", file=sys.stderr)
        return 2
    keras_model = ferry.pytorch_to_keras(
        model.eval(),
        args=inputs,
        inputs_channel_order=order,
        outputs_channel_order=order,
        validation_tolerance=1e-4 if opts.tolerance is None else opts.tolerance,
    )
    # Write next to the target and rename, so a failure never leaves a partial file.
    directory = os.path.dirname(os.path.abspath(opts.out))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ferry-", suffix=".keras")
    os.close(fd)
    try:
        keras_model.save(tmp)
        os.replace(tmp, opts.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {opts.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferry", description="PyTorch to TensorFlow converter")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ops", help="list every op with a built-in rule").set_defaults(run=_ops)
    conv = sub.add_parser("convert", help="convert a model to a .keras or .tflite file")
    conv.add_argument("model", help="module:attribute giving an nn.Module or a factory")
    conv.add_argument(
        "--input",
        type=_shape,
        action="append",
        required=True,
        help="input shape, e.g. 1x3x224x224 (repeat per input)",
    )
    conv.add_argument(
        "--out", required=True, help="the file to write: .keras, or .tflite (no TensorFlow used)"
    )
    conv.add_argument("--channel-order", choices=["tensorflow", "pytorch"], default="tensorflow")
    conv.add_argument("--tolerance", type=float, default=None, help="validation tolerance")
    conv.add_argument("--float16", action="store_true", help=".tflite: float16 weights")
    conv.set_defaults(run=_convert)
    opts = parser.parse_args(argv)
    return opts.run(opts)


if __name__ == "__main__":
    sys.exit(main())
