"""A model quantized by PyTorch's eager flow (torch.ao.quantization: QuantStub, prepare,
convert): its modules run on quantized tensors, which TFLite has no equivalent of, and carry
the scales the model was calibrated or trained with.

Ferry converts a float twin instead: a copy of the model whose quantized modules are replaced
by float ones computing the same thing the way a PT2E graph spells it, the float op on the
kernel's int8 values dequantized per channel, its result through a quantize / dequantize pair
with the module's own scale and zero point. From there it is the PT2E import
(imported_quantization.py): the pairs' scales become the int8 tensors' and the kernels keep
PyTorch's integers. The user's model is not touched.

Modules with no twin here (transposed convolutions, embeddings, quantized LSTM or attention,
dynamic quantization) are refused by name before anything is traced."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq

# Registers torch.ops.quantized_decomposed, the ops the twins call.
import torch.ao.quantization.fx._decomposed  # noqa: E402, F401, I001
import torch.nn.functional as F
from torch import nn

from ferry.errors import ConversionError
from ferry.imported_quantization import quantized_module
from ferry.pipeline import run_on_copies

_RANGES = {torch.quint8: (0, 255, torch.uint8), torch.qint8: (-128, 127, torch.int8)}
_OPS = torch.ops.quantized_decomposed
Grid = tuple[float, int, torch.dtype]  # scale, zero point, quantized dtype


def _round(y: torch.Tensor, scale: float, zero_point: int, dtype: torch.dtype) -> torch.Tensor:
    """`y` rounded to the grid of a quantized tensor, as a quantize / dequantize pair."""
    if dtype not in _RANGES:
        raise ConversionError(f"ferry: a quantized tensor of dtype {dtype} is not kept")
    low, high, storage = _RANGES[dtype]
    args = (float(scale), int(zero_point), low, high, storage)
    return _OPS.dequantize_per_tensor(_OPS.quantize_per_tensor(y, *args), *args)


class Requantized(nn.Module):
    """A float module whose result is rounded to the grid a quantized module's output had,
    and its input to the grid the quantized module was given (when it ran on the example:
    what a PT2E graph spells as the dequantize before each kernel)."""

    def __init__(self, scale: float, zero_point: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.grid = (float(scale), int(zero_point), dtype)
        _round(torch.zeros(()), *self.grid)  # an unknown dtype is refused here
        self.input_grid: Grid | None = None

    def requantize(self, y: torch.Tensor) -> torch.Tensor:
        return _round(y, *self.grid)

    def take(self, x: Any) -> Any:
        if self.input_grid is None or not isinstance(x, torch.Tensor):
            return x
        return _round(x, *self.input_grid)

    def extra_repr(self) -> str:
        return f"scale={self.grid[0]:.6g}, zero_point={self.grid[1]}"


class QuantizeTwin(Requantized):
    """QuantStub after convert: the model input rounded to its first grid."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.requantize(x)


class KernelTwin(Requantized):
    """A quantized convolution or linear layer (fused with its activation or not)."""

    def __init__(self, module: nn.Module, call: Callable[..., torch.Tensor], after: str) -> None:
        super().__init__(module.scale, module.zero_point, torch.quint8)
        weight = module.weight()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales = weight.q_per_channel_scales().float()
            zeros = weight.q_per_channel_zero_points().long()
            self.axis = int(weight.q_per_channel_axis())
        else:  # one scale for the kernel: the same reals, written per channel
            channels = weight.shape[0]
            scales = torch.full((channels,), float(weight.q_scale()))
            zeros = torch.full((channels,), int(weight.q_zero_point()), dtype=torch.long)
            self.axis = 0
        self.register_buffer("kernel", weight.int_repr().clone())
        self.register_buffer("kernel_scales", scales)
        self.register_buffer("kernel_zero_points", zeros)
        bias = module.bias()
        self.register_buffer("bias", None if bias is None else bias.detach().clone().float())
        self.call, self.after = call, after
        self.negative_slope = float(getattr(module, "negative_slope", 0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.take(x)
        weight = _OPS.dequantize_per_channel(
            self.kernel,
            self.kernel_scales,
            self.kernel_zero_points,
            self.axis,
            -128,
            127,
            torch.int8,
        )
        y = self.call(x, weight, self.bias)
        if self.after == "relu":
            y = F.relu(y)
        elif self.after == "leaky_relu":
            y = F.leaky_relu(y, self.negative_slope)
        elif self.after == "tanh":
            y = torch.tanh(y)
        return self.requantize(y)


class FunctionalTwin(Requantized):
    """QFunctional: the float op, its result rounded to the functional's own grid."""

    def __init__(self, module: nnq.QFunctional) -> None:
        super().__init__(module.scale, module.zero_point, torch.quint8)

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.requantize(a + b)

    def add_relu(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.requantize(F.relu(a + b))

    def mul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.requantize(a * b)

    def mul_relu(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.requantize(F.relu(a * b))

    def cat(self, tensors: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
        return self.requantize(torch.cat(tensors, dim=dim))

    # A scalar add or multiply keeps the input's grid, shifted or scaled: no new rounding.
    def add_scalar(self, a: torch.Tensor, b: float) -> torch.Tensor:
        return a + b

    def mul_scalar(self, a: torch.Tensor, b: float) -> torch.Tensor:
        return a * b


class ActivationTwin(Requantized):
    """A quantized module computing a float function of its input on a grid of its own."""

    def __init__(self, module: nn.Module, function: nn.Module) -> None:
        scale = getattr(module, "output_scale", None)  # Sigmoid names its grid so
        zero_point = getattr(module, "output_zero_point", None)
        if scale is None:
            scale, zero_point = module.scale, module.zero_point
        super().__init__(float(scale), int(zero_point), torch.quint8)
        self.function = function

    def forward(self, x: torch.Tensor, *rest: Any) -> torch.Tensor:
        return self.requantize(self.function(self.take(x), *rest))


class Rounded(nn.Module):
    """A float module PyTorch ran on a quantized tensor, giving a quantized one (pooling and
    ReLU on their input's grid, Hardsigmoid on its fixed 1/256): its result rounded to the
    grid PyTorch's had on the example."""

    def __init__(self, module: nn.Module, grid: Grid) -> None:
        super().__init__()
        self.module, self.grid = module, grid

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return _round(self.module(*args, **kwargs), *self.grid)


def _conv(module: nn.Module) -> Callable[..., torch.Tensor]:
    if getattr(module, "padding_mode", "zeros") != "zeros":
        raise ConversionError(
            f"ferry: a quantized convolution padded {module.padding_mode!r} is not kept"
        )
    call = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(module.kernel_size)]
    stride, padding, dilation, groups = (
        module.stride,
        module.padding,
        module.dilation,
        module.groups,
    )

    def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return call(x, w, b, stride, padding, dilation, groups)

    return conv


def _normalization(module: nn.Module) -> nn.Module:
    """The float module a quantized normalization stands for, with its parameters."""
    for quantized, float_class in (
        (nnq.BatchNorm2d, nn.BatchNorm2d),
        (nnq.BatchNorm3d, nn.BatchNorm3d),
        (nniq.BNReLU2d, nn.BatchNorm2d),
        (nniq.BNReLU3d, nn.BatchNorm3d),
    ):
        if isinstance(module, quantized):
            twin = float_class(module.num_features, module.eps).eval()
            twin.load_state_dict(
                {
                    key: value
                    for key, value in module.state_dict().items()
                    if key in twin.state_dict()
                }
            )
            if isinstance(module, (nniq.BNReLU2d, nniq.BNReLU3d)):
                return nn.Sequential(twin, nn.ReLU())
            return twin
    if isinstance(module, nnq.LayerNorm):
        twin = nn.LayerNorm(module.normalized_shape, module.eps, module.elementwise_affine)
    elif isinstance(module, nnq.GroupNorm):
        twin = nn.GroupNorm(module.num_groups, module.num_channels, module.eps, module.affine)
    else:
        float_class = {
            nnq.InstanceNorm1d: nn.InstanceNorm1d,
            nnq.InstanceNorm2d: nn.InstanceNorm2d,
            nnq.InstanceNorm3d: nn.InstanceNorm3d,
        }[type(module)]
        twin = float_class(module.num_features, module.eps, affine=module.affine)
    with torch.no_grad():
        if getattr(module, "weight", None) is not None and twin.weight is not None:
            twin.weight.copy_(module.weight)
            twin.bias.copy_(module.bias)
    return twin


_KERNELS: dict[type, str] = {
    nnq.Conv1d: "",
    nnq.Conv2d: "",
    nnq.Conv3d: "",
    nniq.ConvReLU1d: "relu",
    nniq.ConvReLU2d: "relu",
    nniq.ConvReLU3d: "relu",
    nnq.Linear: "",
    nniq.LinearReLU: "relu",
    nniq.LinearLeakyReLU: "leaky_relu",
    nniq.LinearTanh: "tanh",
}
_LINEARS = (nnq.Linear, nniq.LinearReLU, nniq.LinearLeakyReLU, nniq.LinearTanh)
_NORMALIZATIONS = (
    nnq.BatchNorm2d,
    nnq.BatchNorm3d,
    nniq.BNReLU2d,
    nniq.BNReLU3d,
    nnq.LayerNorm,
    nnq.GroupNorm,
    nnq.InstanceNorm1d,
    nnq.InstanceNorm2d,
    nnq.InstanceNorm3d,
)


def _activation(module: nn.Module) -> nn.Module | None:
    """The float function of a quantized activation with a grid of its own, else None."""
    if isinstance(module, nnq.Hardswish):
        return nn.Hardswish()
    if isinstance(module, nnq.ELU):
        return nn.ELU(module.alpha)
    if isinstance(module, nnq.LeakyReLU):
        return nn.LeakyReLU(module.negative_slope)
    if isinstance(module, nnq.Sigmoid):
        return nn.Sigmoid()
    if isinstance(module, nnq.Softmax):
        return nn.Softmax(module.dim)
    return None


def _twin(module: nn.Module) -> nn.Module | None:
    """The float module standing for one quantized module; None when it has no quantized
    state (a float module, or one whose children are replaced instead)."""
    kind = type(module)
    if kind is nnq.Quantize:
        return QuantizeTwin(float(module.scale), int(module.zero_point), module.dtype)
    if kind is nnq.DeQuantize:
        return nn.Identity()
    if kind in _KERNELS:
        call = F.linear if kind in _LINEARS else _conv(module)
        return KernelTwin(module, call, _KERNELS[kind])
    if kind is nnq.QFunctional:
        return FunctionalTwin(module)
    if kind in (nnq.FloatFunctional, nnq.FXFloatFunctional):
        return None  # not converted: float tensors, float ops
    if kind is nnq.ReLU6:
        return nn.ReLU6()  # keeps its input's grid
    if kind is nnq.Dropout:
        return nn.Identity()
    if kind is nnq.MaxPool2d:  # keeps its input's grid
        pool = nn.MaxPool2d(module.kernel_size, module.stride, module.padding, module.dilation)
        pool.ceil_mode = module.ceil_mode
        return pool
    if isinstance(module, _NORMALIZATIONS):
        return ActivationTwin(module, _normalization(module))
    function = _activation(module)
    if function is not None:
        return ActivationTwin(module, function)
    if quantized_module(module):
        raise ConversionError(
            f"ferry: {kind.__module__}.{kind.__name__} (a module PyTorch quantized) has no "
            "int8 form Ferry reads yet; quantize it in PT2E (torchao's prepare_pt2e / "
            "convert_pt2e), or convert the float model with quantize='int8' and "
            "calibration_data; nothing was written"
        )
    return None


def float_twin(
    model: nn.Module, args: Sequence[Any] | None, kwargs: dict[str, Any] | None
) -> nn.Module:
    """A copy of an eagerly quantized model with each quantized module replaced by its float
    twin. The grids its kernels and activations take their inputs on are read by running the
    model once on the example `args` (when given). Dynamic quantization is refused: its
    weights alone are int8, which quantize='dynamic_int8' on the float model writes."""
    dynamic = next(
        (
            path
            for path, m in model.named_modules()
            if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")
        ),
        None,
    )
    if dynamic is not None:
        raise ConversionError(
            f"ferry: {dynamic} is dynamically quantized (torch.ao.quantization.quantize_dynamic);"
            " convert the float model with quantize='dynamic_int8', which writes int8 weights"
            " the same way; nothing was written"
        )
    inputs, outputs = _grids(model, args, kwargs or {}) if args is not None else ({}, {})
    twin = copy.deepcopy(model)
    _replace(twin, "", outputs)
    for path, module in twin.named_modules():
        if isinstance(module, Requantized) and path in inputs:
            module.input_grid = inputs[path]
    return twin


def _grids(
    model: nn.Module, args: Sequence[Any], kwargs: dict[str, Any]
) -> tuple[dict[str, Grid], dict[str, Grid]]:
    """From one run on the example: per quantized module, the grid of the quantized tensor
    it was first given; per float leaf module that made a quantized tensor, that one's."""
    inputs: dict[str, Grid] = {}
    outputs: dict[str, Grid] = {}

    def grid_of(value: Any) -> Grid | None:
        if (
            isinstance(value, torch.Tensor)
            and value.is_quantized
            and value.qscheme() == torch.per_tensor_affine
        ):
            return (value.q_scale(), value.q_zero_point(), value.dtype)
        return None

    def taking(path: str) -> Callable[..., None]:
        def record(_module: nn.Module, given: tuple[Any, ...]) -> None:
            grid = grid_of(given[0]) if given else None
            if grid is not None:
                inputs.setdefault(path, grid)

        return record

    def making(path: str) -> Callable[..., None]:
        def record(_module: nn.Module, _given: tuple[Any, ...], made: Any) -> None:
            grid = grid_of(made)
            if grid is not None:
                outputs.setdefault(path, grid)

        return record

    handles = []
    for path, module in model.named_modules():
        if quantized_module(module):
            handles.append(module.register_forward_pre_hook(taking(path)))
        elif path and next(module.children(), None) is None:
            handles.append(module.register_forward_hook(making(path)))
    try:
        run_on_copies(model, args, kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def _replace(parent: nn.Module, prefix: str, made: dict[str, Grid]) -> None:
    """Replaces the quantized modules under `parent` by their twins, and wraps the float
    leaf modules that made a quantized tensor (`made`, by path) to round as they did."""
    for name, child in list(parent.named_children()):
        path = f"{prefix}.{name}" if prefix else name
        if path in made and not quantized_module(child):
            setattr(parent, name, Rounded(child, made[path]))
            continue
        try:
            replacement = _twin(child)
        except ConversionError as error:
            raise ConversionError(str(error).replace("ferry: ", f"ferry: {path}: ", 1)) from None
        if replacement is None:
            _replace(child, path, made)
        else:
            setattr(parent, name, replacement)


def float_kernels(twin: nn.Module) -> list[str]:
    """The convolutions and linear layers PyTorch left in float (outside the stubs)."""
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return [path for path, module in twin.named_modules() if isinstance(module, kinds)]
