"""The tracer's SSA values: in-place writes, writes through views, snapshots, constants."""

from __future__ import annotations

import torch
from torch import nn
from trace_helpers import check_tree, children, nodes, one, ref

from ferry.trace import ValueKind, trace_module


class ConvBnReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def test_inplace_relu_gives_a_new_value_and_keeps_the_old_one() -> None:
    model = ConvBnReLU().eval()
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        before_relu = model.bn(model.conv(x))
    trace = trace_module(model, [x])
    relu = one(trace, "torch.nn.modules.activation.ReLU")
    old, new = ref(relu.args["input"]), ref(relu.outputs)
    assert old != new and relu.mutated == [new]
    assert trace.values[new].previous == old
    assert trace.values[new].producer == one(trace, "aten.relu_.default").id
    assert (trace.values[old].data < 0).any()  # the snapshot from before the write
    torch.testing.assert_close(trace.values[old].data, before_relu)
    torch.testing.assert_close(trace.values[new].data, before_relu.relu())
    assert trace.outputs == relu.outputs
    for n in nodes(trace, "torch.nn.functional.relu_"):
        assert n.mutated == [new] and n.outputs == relu.outputs


class ReluOfASlice(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.relu_(x[:, 1:2])
        return x * 1


def test_write_through_a_view_updates_its_base() -> None:
    x = torch.randn(1, 3, 4, 4)
    original = x.clone()
    trace = trace_module(ReluOfASlice(), [x])
    check_tree(trace)
    getitem = one(trace, "torch.Tensor.__getitem__")
    view_old = ref(getitem.outputs)
    assert trace.values[view_old].view_of == 0  # a view of the input

    relu = one(trace, "aten.relu_.default")
    (view_new, base_old), *_ = relu.view_writes
    assert base_old == 0 and trace.values[view_new].previous == view_old
    base_new = next(v for v in relu.mutated if v != view_new)
    assert relu.mutated == [view_new, base_new]
    assert trace.values[base_new].previous == 0 and trace.values[base_new].producer == relu.id
    fn = one(trace, "torch.nn.functional.relu_")  # F.relu_ is torch.relu_
    assert fn.view_writes == relu.view_writes and set(fn.mutated) == set(relu.mutated)

    mul = one(trace, "torch.Tensor.mul")
    assert ref(mul.args["input"]) == base_new  # later uses see the written base
    torch.testing.assert_close(trace.values[0].data, original)  # the input as it came in
    expected = original.clone()
    expected[:, 1:2].relu_()
    torch.testing.assert_close(trace.values[base_new].data, expected)


def test_setitem_is_a_write_through_a_view() -> None:
    def fn(x: torch.Tensor) -> torch.Tensor:
        y = x * 1
        y[:, 0] = 5
        return y

    trace = trace_module(fn, [torch.randn(2, 3)])
    setitem = one(trace, "torch.Tensor.__setitem__")
    y_old = ref(setitem.args["input"])
    assert setitem.args["index"] == (slice(None, None, None), 0) and setitem.args["value"] == 5
    (y_new,) = setitem.mutated
    assert trace.values[y_new].previous == y_old and ref(trace.outputs) == y_new
    fill = next(c for c in children(trace, setitem) if c.op.startswith("aten.fill_"))
    assert [base for _, base in fill.view_writes] == [y_old]
    assert (trace.values[y_new].data[:, 0] == 5).all()
    assert not (trace.values[y_old].data[:, 0] == 5).all()


class Accumulate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        z = y * 2
        y.add_(1)
        y.mul_(3)
        return z, y


def test_recorded_values_are_snapshots() -> None:
    model = Accumulate()
    x = torch.randn(1, 2, 3, 3)
    with torch.no_grad():
        conv_out = model.conv(x)
    trace = trace_module(model, [x])
    y0 = ref(one(trace, "torch.nn.modules.conv.Conv2d").outputs)
    y1 = ref(one(trace, "torch.Tensor.add_").outputs)
    y2 = ref(one(trace, "torch.Tensor.mul_").outputs)
    assert len({y0, y1, y2}) == 3
    assert trace.values[y2].previous == y1 and trace.values[y1].previous == y0
    torch.testing.assert_close(trace.values[y0].data, conv_out)
    torch.testing.assert_close(trace.values[y1].data, conv_out + 1)
    torch.testing.assert_close(trace.values[y2].data, (conv_out + 1) * 3)
    assert [ref(r) for r in trace.outputs] == [ref(one(trace, "torch.Tensor.mul").outputs), y2]
    assert not trace.values[y0].data.requires_grad


OUTSIDE = torch.ones(4)


class UsesConstants(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("offset", torch.full((4, 1, 1), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv(x) + self.offset) * OUTSIDE.view(4, 1, 1)


def test_constants_are_named_after_parameters_and_buffers() -> None:
    trace = trace_module(UsesConstants(), [torch.randn(1, 3, 2, 2)])
    constants = {v.name: v for v in trace.values if v.kind is ValueKind.CONSTANT}
    assert {"conv.weight", "conv.bias", "offset"} <= set(constants)
    unnamed = [n for n in constants if n.startswith("const_")]
    assert len(unnamed) == 1 and constants[unnamed[0]].producer == -1
    assert unnamed[0] == f"const_{constants[unnamed[0]].id}"
    conv = one(trace, "aten.convolution.default")
    assert trace.values[ref(conv.args["weight"])].name == "conv.weight"
    assert ref(conv.args["weight"]) == ref(one(trace, "torch.nn.functional.conv2d").args["weight"])


def test_a_write_through_one_view_moves_the_other_views() -> None:
    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.clone()
        v, w = b[0], b[1]
        v.mul_(2)
        return w + 0, b

    trace = trace_module(fn, [torch.ones(2, 3)])
    mul = one(trace, "aten.mul_.Tensor")
    add = one(trace, "torch.Tensor.add")
    w_now = ref(add.args["input"])
    w_before = trace.values[w_now].previous
    # `w` shares `b`'s version counter: after the write it is a new value made by the write.
    assert w_before >= 0 and trace.values[w_now].producer == mul.id and w_now in mul.mutated
    assert ref(trace.outputs[1]) in mul.mutated


def test_views_of_parameters_keep_their_identity() -> None:
    # The weight's version is 1 (init wrote it); aten.t's view takes it only after dispatch.
    linear = nn.Linear(4, 3)
    trace = trace_module(linear, [torch.randn(2, 4)])
    t, addmm = one(trace, "aten.t.default"), one(trace, "aten.addmm.default")
    assert ref(addmm.args["mat2"]) == ref(t.outputs)
    assert trace.values[ref(t.outputs)].view_of == ref(t.args["self"])
    assert trace.values[ref(t.args["self"])].name == "weight"
