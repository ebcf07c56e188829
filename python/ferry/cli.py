"""Command line: `ferry ops` lists the built-in rules; `ferry convert` converts a model.

  ferry ops [FILTER]
  ferry ops --markdown > docs/ops.md
  ferry zoo [MODEL ...] [--out docs/zoo.md]
  ferry convert my_models:make_net --input 1x3x224x224 --out net.keras
  ferry convert my_models:make_net --input 1x3x224x224 --out net.tflite [--float16]
where `make_net` is a module-level nn.Module class or a function returning a module.

Bad input (a model spec, a module, an output path) is reported on one line, `ferry: ...`,
with exit code 2, before any conversion work; the output path is checked first of all.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import importlib
import os
import sys
import traceback
from typing import Any

from ferry import __version__
from ferry.files import atomic_path, check_output_path
from ferry.ops_doc import GROUPS, group, markdown

_SUFFIXES = (".keras", ".tflite")


class _BadInput(Exception):
    """A one-line `ferry: ...` message for input the command cannot work with."""


def _matches(op: str, pattern: str | None) -> bool:
    """Case-insensitive: a glob when the filter has *, ? or [, else a substring."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(op.lower(), pattern.lower())
    return pattern.lower() in op.lower()


def _ops(opts: argparse.Namespace) -> int:
    from ferry import _core  # the rules only: no torch, no TensorFlow

    if opts.markdown:
        sys.stdout.write(markdown())
        return 0
    selected = [(op, mapping) for op, mapping in _core.rules() if _matches(op, opts.filter)]
    if not selected:
        print(
            f"ferry: no op matches {opts.filter!r} (a case-insensitive substring, or a glob "
            "with * ? []); `ferry ops` lists them all",
            file=sys.stderr,
        )
        return 1
    width = min(max(len(op) for op, _ in selected), 56)
    blocks = []
    for title in GROUPS:
        items = sorted(item for item in selected if group(item[0]) == title)
        if items:
            lines = [f"{title} ({len(items)})"]
            lines += [f"  {op:{width}s} -> {mapping}" for op, mapping in items]
            blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    count = f"{len(selected)} op" + ("" if len(selected) == 1 else "s")
    print(f"\n{count} matching {opts.filter!r}" if opts.filter else f"\n{count}")
    return 0


def _zoo(opts: argparse.Namespace) -> int:
    from ferry.zoo.run import main as zoo_main

    return zoo_main(opts.args)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"expected a shape like 1x3x224x224, got {text!r}")
    return shape


def _dynamic(text: str) -> dict[int, str]:
    """'0:batch,2:height' -> {0: 'batch', 2: 'height'}: an input's free dims, by name."""
    dims: dict[int, str] = {}
    for item in text.split(","):
        dim, sep, name = item.partition(":")
        try:
            index = int(dim)
        except ValueError:
            index = -1
        if not sep or index < 0 or not name.isidentifier() or index in dims:
            raise argparse.ArgumentTypeError(
                f"expected free dims like 0:batch,2:height, got {text!r}"
            )
        dims[index] = name
    return dims


def _model_spec(spec: str) -> tuple[str, str]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise _BadInput(
            f"ferry: the model {spec!r} is not module:attribute, e.g. my_models:make_net"
        )
    if (
        module_name.endswith(".py")
        or os.sep in module_name
        or not all(part.isidentifier() for part in module_name.split("."))
    ):
        dotted = os.path.splitext(module_name)[0].replace(os.sep, ".").strip(".")
        hint = ""
        if all(part.isidentifier() for part in dotted.split(".")):
            hint = f", e.g. {dotted}:{attr}"
        raise _BadInput(
            f"ferry: {module_name!r} is not a module name: give the module as Python imports "
            f"it{hint}"
        )
    if not all(part.isidentifier() for part in attr.split(".")):
        raise _BadInput(f"ferry: {attr!r} is not an attribute name (in {spec!r})")
    return module_name, attr


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _raised_at(error: BaseException) -> str:
    """' (file.py, line N)': where the error was raised, in the user's code if it passed there."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith("<")
    ]
    libraries = [os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix)]
    libraries.append(os.path.dirname(os.path.abspath(__file__)) + os.sep)  # Ferry itself
    users = [f for f in frames if not os.path.abspath(f.filename).startswith(tuple(libraries))]
    if not users:
        return ""  # a SyntaxError, say, names its file and line itself
    frame = users[-1]
    name = frame.filename
    if os.path.abspath(name).startswith(os.getcwd() + os.sep):
        name = os.path.relpath(name)
    return f" ({name}, line {frame.lineno})"


def _load_model(spec: str, module_name: str, attr: str) -> Any:
    """The nn.Module `spec` names: a module (or class) attribute, or a factory's result."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        missing = getattr(e, "name", None)
        if (
            isinstance(e, ModuleNotFoundError)
            and missing
            and (module_name == missing or module_name.startswith(missing + "."))
        ):
            raise _BadInput(
                f"ferry: cannot import module {module_name!r}: {_one_line(e)} (the current "
                f"directory, {cwd}, is on the import path)"
            ) from None
        raise _BadInput(
            f"ferry: cannot import module {module_name!r}: {_one_line(e)}{_raised_at(e)}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            owner = (
                f"module {module_name!r} ({getattr(module, '__file__', None) or 'built in'})"
                if obj is module
                else f"{type(obj).__name__} {attr.rsplit('.', 1)[0]!r}"
            )
            raise _BadInput(f"ferry: {owner} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)

    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise _BadInput(
            f"ferry: {spec} is not an nn.Module or a function returning one (it is of type "
            f"{type(obj).__name__})"
        )
    try:
        model = obj()
    except Exception as e:
        raise _BadInput(f"ferry: {spec}() raised {_one_line(e)}{_raised_at(e)}") from None
    if not isinstance(model, torch.nn.Module):
        raise _BadInput(f"ferry: {spec}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _calibration_set(loaded: object) -> list:
    """A calibration file's samples: a list of input tuples (or of lone tensors) as saved, or
    one tensor whose first dim lists single inputs (each keeps a leading dim of 1)."""
    import torch

    if isinstance(loaded, torch.Tensor):
        return [(x,) for x in loaded.split(1)]
    if isinstance(loaded, (list, tuple)):
        return list(loaded)
    raise ValueError(f"holds a {type(loaded).__name__}, not a list of input tuples or a tensor")


def _convert(opts: argparse.Namespace) -> int:
    # Everything a user can get wrong is checked before the slow part, the path first.
    try:
        module_name, attr = _model_spec(opts.model)
        check_output_path(opts.out, _SUFFIXES)
        if (opts.float16 or opts.quantize) and not opts.out.endswith(".tflite"):
            raise _BadInput("ferry: --float16 and --quantize apply to .tflite output only")
        integer = opts.quantize in ("int8", "int16x8")
        if opts.keep_float and not (integer or opts.quantize == "dynamic_int8"):
            raise _BadInput(
                "ferry: --keep-float applies to --quantize dynamic_int8, int8 or int16x8 only"
            )
        if opts.calibration is not None and not integer:
            raise _BadInput("ferry: --calibration applies to --quantize int8 or int16x8 only")
        if opts.io_dtype and opts.quantize != "int8":
            raise _BadInput("ferry: --io-dtype applies to --quantize int8 only")
        if integer and opts.calibration is None:
            raise _BadInput(
                f"ferry: --quantize {opts.quantize} needs --calibration FILE: a torch.save'd "
                "list of input tuples, or a tensor whose first dim lists single inputs"
            )
        if opts.calibration is not None and not os.path.isfile(opts.calibration):
            raise _BadInput(f"ferry: --calibration {opts.calibration}: no such file")
        if opts.recurrent and not opts.out.endswith(".tflite"):
            raise _BadInput("ferry: --recurrent applies to .tflite output only")
        if len(opts.dynamic or []) > len(opts.input):
            raise _BadInput("ferry: more --dynamic than --input; give them in the same order")
        # The first sign of life, before the seconds importing torch and the model take.
        print(f"ferry: loading {opts.model}…", file=sys.stderr, flush=True)
        model = _load_model(opts.model, module_name, attr)
    except (_BadInput, ValueError) as e:
        print(e, file=sys.stderr)
        return 2

    import torch

    import ferry

    order = ferry.ChannelOrder(opts.channel_order)
    inputs = [torch.rand(*shape) for shape in opts.input]
    calibration = None
    if opts.calibration is not None:
        try:
            calibration = _calibration_set(torch.load(opts.calibration, weights_only=True))
        except Exception as e:
            print(f"ferry: --calibration {opts.calibration}: {_one_line(e)}", file=sys.stderr)
            return 2
    dynamic = {i: dims for i, dims in enumerate(opts.dynamic or []) if dims} or None
    try:
        if opts.out.endswith(".tflite"):
            # Ferry's own writer: no TensorFlow involved, written atomically after validation.
            ferry.pytorch_to_tflite(
                model.eval(),
                inputs,
                inputs_channel_order=order,
                outputs_channel_order=order,
                path=opts.out,
                dynamic_dims=dynamic,
                validation_tolerance=opts.tolerance,
                float16_weights=opts.float16,
                quantize=opts.quantize,
                calibration_data=calibration,
                io_dtype=opts.io_dtype or "float32",
                keep_float=opts.keep_float or (),
                recurrent=opts.recurrent,
            )
        else:
            keras_model = ferry.pytorch_to_keras(
                model.eval(),
                args=inputs,
                dynamic_dims=dynamic,
                inputs_channel_order=order,
                outputs_channel_order=order,
                validation_tolerance=1e-4 if opts.tolerance is None else opts.tolerance,
            )
            with atomic_path(opts.out) as tmp:
                keras_model.save(tmp)
    except ferry.ConversionError as e:
        text = str(e)
        print(text if text.startswith("ferry:") else f"ferry: {text}", file=sys.stderr)
        return 1
    print(f"wrote {opts.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferry", description="PyTorch to TensorFlow converter")
    parser.add_argument("--version", action="version", version=f"ferry {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ops = sub.add_parser("ops", help="list the ops with a built-in rule, and what each becomes")
    ops.add_argument(
        "filter", nargs="?", help="only ops whose name contains this (case-insensitive; or a glob)"
    )
    ops.add_argument(
        "--markdown", action="store_true", help="print the op reference page (docs/ops.md)"
    )
    ops.set_defaults(run=_ops)
    zoo = sub.add_parser(
        "zoo",
        help="convert real architectures (random weights) on both back ends; write docs/zoo.md",
        add_help=False,
    )
    zoo.add_argument("args", nargs=argparse.REMAINDER)
    zoo.set_defaults(run=_zoo)
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
        "--dynamic",
        type=_dynamic,
        action="append",
        help="free dims of the input given in the same place, e.g. 0:batch,2:height,3:width "
        "(PyTorch's dim numbers; one name shared by several inputs is one size)",
    )
    conv.add_argument(
        "--out", required=True, help="the file to write: .keras, or .tflite (no TensorFlow used)"
    )
    conv.add_argument("--channel-order", choices=["tensorflow", "pytorch"], default="tensorflow")
    conv.add_argument("--tolerance", type=float, default=None, help="validation tolerance")
    conv.add_argument("--float16", action="store_true", help=".tflite: float16 weights")
    conv.add_argument(
        "--quantize",
        choices=["float16", "dynamic_int8", "int8", "int16x8"],
        default=None,
        help=".tflite: float16 weights, int8 conv/dense weights per channel (dynamic range), "
        "or full integer int8 / int16x8 (needs --calibration)",
    )
    conv.add_argument(
        "--calibration",
        metavar="FILE",
        help="with --quantize int8 or int16x8: a torch.save'd list of input tuples (or a tensor "
        "whose first dim lists single inputs) to choose the scales from",
    )
    conv.add_argument(
        "--io-dtype",
        choices=["float32", "int8", "uint8"],
        default=None,
        help="with --quantize int8: the file's input and output type (default float32)",
    )
    conv.add_argument(
        "--keep-float",
        action="append",
        metavar="MODULE_OR_OP",
        help="with --quantize dynamic_int8, int8 or int16x8: keep this module's (or op's) float "
        "(repeatable)",
    )
    conv.add_argument(
        "--recurrent",
        choices=["unrolled", "sequence"],
        default=None,
        help=".tflite: LSTM layers as UNIDIRECTIONAL_SEQUENCE_LSTM (default) or unrolled over time",
    )
    conv.set_defaults(run=_convert)
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["zoo"]:  # its own options (argparse would take them for ferry's)
        return _zoo(argparse.Namespace(args=args[1:]))
    opts = parser.parse_args(args)
    return opts.run(opts)


if __name__ == "__main__":
    sys.exit(main())
