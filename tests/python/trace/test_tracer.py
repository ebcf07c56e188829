"""The eager tracer: call tree, SSA values (in-place ops, views), bindings, locations, cleanup."""

from __future__ import annotations

import functools
import inspect
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from trace_helpers import check_tree, children, line_of, nodes, one, ref

from ferry.trace import NodeKind, TensorRef, ValueKind, trace_module, traceable


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # conv call
        y = nn.Hardsigmoid()(y)
        z = y[:, 1:3, ::2, 1::2]
        return (1 - z) * 2


def test_call_tree_of_a_small_model() -> None:
    model = SmallNet()
    x = torch.randn(1, 3, 8, 8)
    trace = trace_module(model, [x])
    check_tree(trace)

    root = trace.nodes[trace.roots[0]]
    assert trace.roots == [0] and root.kind is NodeKind.MODULE and root.target is model
    assert root.op == f"{__name__}.SmallNet" and root.scope == ""

    conv = one(trace, "torch.nn.modules.conv.Conv2d")
    assert conv.parent == root.id and conv.scope == "conv" and conv.target is model.conv
    (conv_fn,) = children(trace, conv)
    assert conv_fn.kind is NodeKind.FUNCTION and conv_fn.op == "torch.nn.functional.conv2d"
    (conv_aten,) = children(trace, conv_fn)
    assert conv_aten.kind is NodeKind.ATEN and conv_aten.op == "aten.convolution.default"
    assert conv_aten.target is torch.ops.aten.convolution.default
    assert conv_aten.scope == "conv"
    # The function returns the tensor its aten op made: one value, produced by the aten node.
    assert ref(conv_fn.outputs) == ref(conv_aten.outputs) == ref(conv.outputs)
    assert trace.values[ref(conv.outputs)].producer == conv_aten.id
    assert conv_aten.args["stride"] == [1, 1] and conv_aten.args["transposed"] is False

    hardsigmoid = one(trace, "torch.nn.modules.activation.Hardsigmoid")
    assert hardsigmoid.scope == "Hardsigmoid"  # made in forward, not in named_modules()

    getitem = one(trace, "torch.Tensor.__getitem__")
    assert getitem.args["index"] == (
        slice(None, None, None),
        slice(1, 3, None),
        slice(None, None, 2),
        slice(1, None, 2),
    )
    assert all(c.op == "aten.slice.Tensor" for c in children(trace, getitem))
    assert trace.values[ref(getitem.outputs)].shape == (1, 2, 4, 4)

    rsub = one(trace, "torch.Tensor.__rsub__")
    assert rsub.args["input"] == getitem.outputs and rsub.args["other"] == 1
    assert [c.op for c in children(trace, rsub)] == ["torch.rsub"]
    # `t * 2` reaches the function mode as Tensor.mul (the C dunder forwards to the method).
    mul = one(trace, "torch.Tensor.mul")
    assert mul.args["input"] == rsub.outputs and mul.args["other"] == 2
    assert trace.outputs == mul.outputs and trace.output_names == ["output_0"]
    torch.testing.assert_close(trace.values[ref(trace.outputs)].data, model(x))
    assert trace.inputs == [0] and trace.values[0].kind is ValueKind.INPUT
    assert trace.values[0].name == "input_0"


def test_python_torch_functions_show_their_nested_calls() -> None:
    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.layer_norm(x, [4]), F.hardswish(x)

    trace = trace_module(fn, [torch.randn(2, 4)])
    check_tree(trace)
    layer_norm = one(trace, "torch.nn.functional.layer_norm")
    assert [c.op for c in children(trace, layer_norm)] == ["torch.layer_norm"]
    hardswish = one(trace, "torch.nn.functional.hardswish")
    (inner,) = children(trace, hardswish)
    assert inner.op == "torch._C._nn.hardswish" and inner.args["input"] == hardswish.args["input"]
    assert [c.op for c in children(trace, inner)] == ["aten.hardswish.default"]


def test_invoked_is_the_users_line_and_defined_the_class() -> None:
    trace = trace_module(SmallNet(), [torch.randn(1, 3, 4, 4)])
    line = line_of(SmallNet.forward, "# conv call")
    conv = one(trace, "torch.nn.modules.conv.Conv2d")
    for node in [conv, *children(trace, conv), *children(trace, children(trace, conv)[0])]:
        assert node.invoked is not None
        assert (node.invoked.file, node.invoked.line) == (__file__, line), node.op
    assert conv.defined is not None and conv.defined.file.endswith("conv.py")
    assert conv.defined.line == inspect.getsourcelines(nn.Conv2d)[1]
    root = trace.nodes[0]
    assert root.defined is not None
    assert (root.defined.file, root.defined.line) == (__file__, inspect.getsourcelines(SmallNet)[1])
    assert one(trace, "torch.Tensor.__rsub__").defined is not None  # Python code in torch
    assert one(trace, "torch.Tensor.mul").defined is None  # C


def test_bindings_are_normalised() -> None:
    def fn(x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        return [
            x.view(1, -1),
            x.view((1, -1)),
            x.reshape(torch.Size([1, 6])),
            x.permute(1, 0),
            x.permute((1, 0)),
            torch.add(x, y),
            x.add(y),
            x + y,
            x.flip(0, 1),
        ]

    trace = trace_module(fn, [torch.randn(2, 3), torch.randn(2, 3)])
    views = nodes(trace, "torch.Tensor.view")
    # The names are the keywords torch accepts: `x.view(size=...)`, `x.permute(dims=...)`.
    assert [n.args["size"] for n in views] == [[1, -1], [1, -1]]
    assert one(trace, "torch.Tensor.reshape").args["shape"] == [1, 6]
    assert [n.args["dims"] for n in nodes(trace, "torch.Tensor.permute")] == [[1, 0], [1, 0]]
    assert one(trace, "torch.Tensor.flip").args["dims"] == [0, 1]
    adds = [*nodes(trace, "torch.add"), *nodes(trace, "torch.Tensor.add")]
    assert len(adds) == 3
    for node in adds:
        assert (ref(node.args["input"]), ref(node.args["other"])) == (0, 1)
    assert views[0].raw_args[1:] == (1, -1) and views[1].raw_args[1:] == ((1, -1),)
    assert isinstance(views[0].raw_args[0], torch.Tensor)  # raw args hold recorded tensors
    assert views[0].raw_args[0] is trace.values[0].data


def test_metadata_reads_are_not_nodes_but_factories_are() -> None:
    def fn(x: torch.Tensor) -> torch.Tensor:
        print(f"{x}", repr(x[0]), x.tolist(), file=io.StringIO())
        n, c = x.shape
        scale = x.size(1) * x.dim() + len(x) + x.numel()
        if x.sum() > -1000:
            return x * scale + torch.zeros(n, c) + torch.arange(c)
        return x

    trace = trace_module(fn, [torch.randn(2, 3)])
    functions = [n.op for n in trace.nodes if n.kind is NodeKind.FUNCTION]
    assert functions == [
        "torch.Tensor.__getitem__",  # x[0]: printing it records nothing more
        "torch.Tensor.sum",
        "torch.Tensor.gt",
        "torch.Tensor.mul",
        "torch.zeros",
        "torch.Tensor.add",
        "torch.arange",
        "torch.Tensor.add",
    ]
    assert not [n for n in trace.nodes if n.op == "aten._local_scalar_dense.default"]
    assert one(trace, "torch.zeros").args["size"] == [2, 3]
    assert one(trace, "torch.Tensor.mul").args["other"] == 3 * 2 + 2 + 6


@traceable
def scaled_sigmoid(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """Docs stay."""
    return torch.sigmoid(x) * scale


class UsesTraceable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_sigmoid(x) + 1


def test_traceable_is_one_node_with_its_calls_inside() -> None:
    assert scaled_sigmoid.__name__ == "scaled_sigmoid" and scaled_sigmoid.__doc__ == "Docs stay."
    original = scaled_sigmoid.__wrapped__
    x = torch.randn(3)
    torch.testing.assert_close(scaled_sigmoid(x), torch.sigmoid(x) * 2)  # outside a trace
    trace = trace_module(UsesTraceable(), [x])
    node = one(trace, f"{__name__}.scaled_sigmoid")
    # The target is what a user converter is registered for: the decorated function.
    assert node.kind is NodeKind.FUNCTION and node.target is scaled_sigmoid
    assert node.target.__wrapped__ is original
    assert node.args == {"x": TensorRef(0), "scale": 2.0}
    assert [c.op for c in children(trace, node)] == ["torch.sigmoid", "torch.Tensor.mul"]
    assert node.defined is not None and node.defined.line == inspect.getsourcelines(original)[1]


def test_kwargs_and_structures_flatten_in_order() -> None:
    class Model(nn.Module):
        def forward(self, pair: tuple[torch.Tensor, torch.Tensor], *, bias: torch.Tensor) -> dict:
            return {"sum": pair[0] + pair[1] + bias, "first": pair[0]}

    a, b, c = torch.randn(2), torch.randn(2), torch.randn(2)
    trace = trace_module(
        Model(), [(a, b)], {"bias": c}, input_names=["a", "b", "c"], output_names=["s", "f"]
    )
    assert [trace.values[i].name for i in trace.inputs] == ["a", "b", "c"]
    assert trace.outputs["first"] == TensorRef(trace.inputs[0]) and trace.output_names == ["s", "f"]
    assert trace.nodes[0].args == {"pair": (TensorRef(0), TensorRef(1)), "bias": TensorRef(2)}


def test_dict_keys_name_the_outputs() -> None:
    class Model(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple:
            return x * 2, {"out": x + 1, "aux": [x - 1, x * 3]}

    trace = trace_module(Model(), [torch.randn(2)])
    assert trace.output_names == ["output_0", "out", "aux_0", "aux_1"]
    given = trace_module(Model(), [torch.randn(2)], output_names=list("abcd"))
    assert given.output_names == list("abcd")


def _hook_state() -> tuple[int, ...]:
    m = torch.nn.modules.module
    return (
        len(m._global_forward_pre_hooks),
        len(m._global_forward_hooks),
        len(m._global_forward_hooks_always_called),
        len(m._global_forward_hooks_with_kwargs),
        torch._C._len_torch_function_stack(),
        torch._C._len_torch_dispatch_stack(),
        int(torch.is_grad_enabled()),
    )


class Scriptable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x)) + 1


class Fails(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.relu(x)
        raise KeyError("from the model")


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_nothing_stays_installed() -> None:
    state = _hook_state()
    x = torch.randn(3, 4)
    torch.jit.script(Scriptable())  # before
    trace_module(Scriptable(), [x])
    assert _hook_state() == state
    with pytest.raises(KeyError, match="from the model") as info:
        trace_module(Fails(), [x])
    assert info.type is KeyError and _hook_state() == state
    scripted = torch.jit.script(Scriptable())
    traced = torch.jit.trace(Scriptable(), (x,))
    exported = torch.export.export(Scriptable(), (x,))
    model = Scriptable()
    expected = model(x)
    torch.testing.assert_close(torch.jit.script(model)(x), expected)
    assert scripted is not None and traced is not None
    torch.testing.assert_close(exported.module()(x).shape, expected.shape)


def test_bad_inputs_get_clear_errors() -> None:
    with pytest.raises(
        TypeError, match=r"ferry: .*expected a torch.nn.Module or a callable, got int"
    ):
        trace_module(42, [torch.randn(1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ferry: args must be a list or tuple"):
        trace_module(Scriptable(), torch.randn(3, 4))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="ferry: the arguments do not match Scriptable.forward.*'x'"
    ):
        trace_module(Scriptable(), [])
    with pytest.raises(TypeError, match="ferry: the arguments do not match.*'y'"):
        trace_module(Scriptable(), [torch.randn(3, 4)], {"y": 1})
    with pytest.raises(TypeError, match=r"ferry: input 'input_0' has dtype torch.complex64"):
        trace_module(lambda z: z * 2, [torch.randn(2, dtype=torch.complex64)])
    with pytest.raises(ValueError, match="ferry: 2 input_names given for 1 input"):
        trace_module(Scriptable(), [torch.randn(3, 4)], input_names=["a", "b"])


def make_stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(inplanes, planes, stride)]
    layers += [Bottleneck(planes * 4, planes, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = make_stage(16, 8, 3, 1)
        self.layer2 = make_stage(32, 16, 4, 2)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.pool(self.stem(x))))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_resnet_block_stack_structure() -> None:
    model = TinyResNet().eval()
    x = torch.randn(2, 3, 64, 64)
    trace = trace_module(model, [x])
    check_tree(trace)
    convs = nodes(trace, "torch.nn.modules.conv.Conv2d")
    assert len(convs) == 1 + 3 * 3 + 4 * 3 + 2
    for conv in convs:
        (fn,) = children(trace, conv)
        assert fn.op == "torch.nn.functional.conv2d"
        assert [c.op for c in children(trace, fn)] == ["aten.convolution.default"]
    scopes = {n.scope for n in convs}
    assert {"stem.0", "layer1.0.conv1", "layer1.0.downsample.0", "layer2.3.conv3"} <= scopes
    adds = nodes(trace, "torch.Tensor.add_")  # `out += identity`
    assert len(adds) == 7
    for add in adds:
        (new,) = add.mutated
        assert trace.values[new].previous == ref(add.args["input"])
    for relu in nodes(trace, "torch.nn.modules.activation.ReLU"):
        assert relu.mutated == [ref(relu.outputs)] != [ref(relu.args["input"])]
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(trace.values[ref(trace.outputs)].data, expected)
    # Every value used by a node is an input, a named parameter, or made by an earlier node.
    for node in trace.nodes:
        for r in node.input_refs():
            value = trace.values[r.value]
            assert value.kind is not ValueKind.CONSTANT or value.name in dict(
                [*model.named_parameters(), *model.named_buffers()]
            ), (node.op, value.name)
            assert value.producer < node.id or value.producer in (node.id, -1)


def test_traceable_keeps_wraps_metadata() -> None:
    def plain(a: int) -> int:
        return a + 1

    wrapped = traceable(plain)
    assert functools.WRAPPER_ASSIGNMENTS and wrapped.__name__ == "plain"
    assert wrapped.__wrapped__ is plain and wrapped(1) == 2


def test_tensor_comparison_dunders_bind() -> None:
    # `Tensor.__eq__` has no aten packet of its name: `torch.ops.aten.__eq__` is the namespace
    # object's own method. nn.TransformerEncoder compares its mask this way.
    x, y = torch.randn(3), torch.randn(3)
    trace = trace_module(lambda a, b: (a == b, a == 1.0), [x, y])
    tensor, scalar = nodes(trace, "torch.Tensor.__eq__")
    assert tensor.args["input"] == TensorRef(0) and tensor.args["other"] == TensorRef(1)
    assert scalar.args["other"] == 1.0
