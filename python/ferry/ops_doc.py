"""The op reference, docs/ops.md, generated from the rule registry: `ferry ops --markdown`.

Three tables: every PyTorch-level op with a rule and the TF-level ops it becomes; the ops
Ferry refuses on purpose, with why; and every TF-level op with its Keras form, its `.tflite`
form and what it can do about channel order. A test keeps the committed page equal to what
this module generates.
"""

from __future__ import annotations

# Headings for PyTorch-level ops, in order. Module classes are told apart by their CamelCase.
GROUPS = ("torch functions", "Tensor methods", "modules", "aten ops", "Ferry's own", "other")
REFUSED = "refused: "  # how a rule's mapping marks a deliberate refusal; the reason follows

# Native Keras layers Ferry builds for the weighted TF-level ops (python/ferry/keras/native.py).
_KERAS_LAYERS = {
    "conv": "`Conv1D` / `Conv2D` / `Conv3D`",
    "depthwise_conv": "`DepthwiseConv1D` / `DepthwiseConv2D`",
    "dense": "`Dense`",
    "batch_norm": "`BatchNormalization`",
    "layer_norm": "`LayerNormalization`",
    "embedding": "`Embedding`",
    "max_pool": "`MaxPooling1D/2D/3D`",
    "avg_pool": "`AveragePooling1D/2D/3D`",
    "gru": "`GRU` (`Bidirectional`)",
    "lstm": "`LSTM` (`Bidirectional`)",
}


def group(op: str) -> str:
    if op.startswith("torch.Tensor."):
        return "Tensor methods"
    if op.startswith(("aten.", "quantized_decomposed.")):
        return "aten ops"
    if op.startswith("ferry."):
        return "Ferry's own"
    if op.rsplit(".", 1)[-1][:1].isupper():
        return "modules"
    if op.startswith("torch."):
        return "torch functions"
    return "other"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    from ferry import _core

    rules = _core.rules()
    converted = [(op, m) for op, m in rules if not m.startswith(REFUSED)]
    refused = [(op, m[len(REFUSED) :]) for op, m in rules if m.startswith(REFUSED)]
    lines = [
        "# Ops",
        "",
        "Generated from the rule registry by `ferry ops --markdown > docs/ops.md`; do not edit.",
        "`ferry ops [FILTER]` lists the same rules in a terminal.",
        "",
        "Beyond these rules, any call whose tensor arguments are all constants (parameters,",
        "buffers, literals, or other such calls' results) converts to the constant PyTorch",
        "computed, whatever the op: the conversion tree marks it `◦ folded`.",
        "",
        f"## PyTorch ops ({len(converted)})",
        "",
        "What each becomes in the TF-level graph ([tf_ops.md](tf_ops.md)).",
    ]
    for title in GROUPS:
        items = sorted(item for item in converted if group(item[0]) == title)
        if items:
            lines += ["", f"### {title} ({len(items)})", "", "| op | becomes |", "| --- | --- |"]
            lines += [f"| `{op}` | {_cell(m)} |" for op, m in items]
    lines += [
        "",
        f"## Refused, and why ({len(refused)})",
        "",
        "These ops have a rule that stops the conversion with this reason, before anything is",
        "written.",
        "",
        "| op | why |",
        "| --- | --- |",
    ]
    lines += [f"| `{op}` | {_cell(why)} |" for op, why in sorted(refused)]
    lines += [
        "",
        "## TF-level ops",
        "",
        "Keras: a native layer, or Ferry's op layer running TensorFlow ops. Channel order: what",
        "the layout stage may do with the op's data ([layout.md](layout.md)).",
        "",
        "| op | Keras | .tflite | channel order |",
        "| --- | --- | --- | --- |",
    ]
    for op, layout, tflite in sorted(_core.tf_ops()):
        keras = _KERAS_LAYERS.get(op, "op layer")
        lines.append(f"| `{op}` | {keras} | {_cell(tflite)} | {layout} |")
    return "\n".join(lines) + "\n"
