"""Free sizes end to end: ops whose rules take free sizes convert once and run at other sizes,
in LiteRT (resized) and in Keras, against PyTorch on fresh inputs."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from models.torchvision_import import import_torchvision
from torch import nn

import ferry
from ferry.errors import ConversionError
from ferry.trace.symbolic import SymbolicShapeError
from ferry.zoo.blocks import GptBlock

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from free_size_runs import check_at_sizes, convert_both, nhwc, run_resized  # noqa: E402

TOLERANCE = 1e-5


class Elementwise(nn.Module):
    """Unary and binary elementwise ops, with a per-channel parameter broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.randn(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x) * self.scale + x.sigmoid()
        return nn.functional.gelu(y - torch.tanh(x)) * 0.5


OTHER_SIZES = [(1, 3, 4, 9), (5, 3, 11, 2)]


@pytest.mark.parametrize(
    "declare",
    [
        lambda x: {"input_shapes": {x: (None, 3, None, None)}},
        lambda x: {"dynamic_dims": {"input_0": {0: "batch", 2: "height", -1: "width"}}},
    ],
    ids=["input_shapes", "dynamic_dims"],
)
def test_elementwise_model_runs_at_other_sizes_on_both_back_ends(declare):
    torch.manual_seed(0)
    model = Elementwise().eval()
    x = torch.randn(2, 3, 5, 7)
    data = ferry.pytorch_to_tflite(model, [x], verbose=False, **declare(x))
    detail = Interpreter(model_content=bytes(data)).get_input_details()[0]
    assert list(detail["shape"]) == [2, 5, 7, 3]  # the traced size, channels last
    assert list(detail["shape_signature"]) == [-1, -1, -1, 3]
    keras_model = ferry.pytorch_to_keras(model, [x], verbose=False, **declare(x))
    assert tuple(keras_model.inputs[0].shape) == (None, None, None, 3)
    for shape in OTHER_SIZES:
        fresh = torch.randn(shape)
        with torch.no_grad():
            expected = nhwc(model(fresh))
        got = run_resized(data, nhwc(fresh))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
        got = np.asarray(keras_model(nhwc(fresh)))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_static_conversion_has_no_shape_signature():
    model = Elementwise().eval()
    data = ferry.pytorch_to_tflite(model, [torch.randn(2, 3, 5, 7)], verbose=False)
    detail = Interpreter(model_content=bytes(data)).get_input_details()[0]
    assert list(detail["shape_signature"]) == list(detail["shape"])


class ThenSort(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(torch.relu(x), dim=-1).values


def test_the_first_op_that_cannot_take_a_free_size_is_named(tmp_path):
    x = torch.randn(2, 3, 8)
    path = tmp_path / "m.tflite"
    with pytest.raises(ConversionError) as error:
        ferry.pytorch_to_tflite(
            ThenSort(), [x], input_shapes={x: (None, 3, 8)}, path=path, verbose=False
        )
    message = str(error.value)
    assert "sort: cannot take a free size yet (dim 0 of 'input' is input_0_dim0)" in message
    assert not path.exists()


class Broadcast(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + y.sigmoid()


def test_two_inputs_sharing_a_free_size_broadcast_at_other_sizes():
    model = Broadcast()
    x, y = torch.randn(2, 3, 5, 7), torch.randn(7)
    declared = {x: {0: "batch", 3: "width"}, y: {0: "width"}}
    data = ferry.pytorch_to_tflite(model, [x, y], dynamic_dims=declared, verbose=False)
    keras_model = ferry.pytorch_to_keras(model, [x, y], dynamic_dims=declared, verbose=False)
    interpreter = Interpreter(model_content=bytes(data))
    details = interpreter.get_input_details()
    assert [list(d["shape_signature"]) for d in details] == [[-1, 5, -1, 3], [-1]]
    for batch, width in [(1, 4), (3, 9)]:
        fresh_x, fresh_y = torch.randn(batch, 3, 5, width), torch.randn(width)
        expected = model(fresh_x, fresh_y).numpy()  # outputs keep PyTorch's order
        got = run_resized(data, nhwc(fresh_x), fresh_y.numpy())
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
        got = np.asarray(keras_model([nhwc(fresh_x), fresh_y.numpy()]))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def test_resnet18_with_batch_height_and_width_free():
    torch.manual_seed(0)
    model = import_torchvision().models.resnet18(weights=None).eval()
    x = torch.rand(1, 3, 64, 64)  # a batch of one, as nobuco's examples trace
    free = {x: (None, 3, None, None)}
    data = ferry.pytorch_to_tflite(model, [x], input_shapes=free, verbose=False)
    keras_model = ferry.pytorch_to_keras(model, [x], input_shapes=free, verbose=False)
    ops = {op[0] for op in ferry._core.read_tflite(bytes(data))["ops"]}
    assert "TRANSPOSE" not in ops
    # Resized, XNNPACK takes the graph as it takes the static file's (a private but stable
    # API: each partition is one DELEGATE node). Both have two: max pooling's PADV2 with
    # -inf, which XNNPACK does not take, sits between them.
    static = Interpreter(model_content=bytes(ferry.pytorch_to_tflite(model, [x], verbose=False)))
    static.allocate_tensors()
    resized = Interpreter(model_content=bytes(data))
    detail = resized.get_input_details()[0]
    resized.resize_tensor_input(detail["index"], [1, 64, 64, 3], strict=True)
    resized.allocate_tensors()
    partitions = [
        [op["op_name"] for op in it._get_ops_details()].count("DELEGATE")
        for it in (static, resized)
    ]
    assert partitions[0] == partitions[1] <= 2
    for shape in [(2, 3, 64, 64), (3, 3, 97, 75)]:  # odd sizes: stride-2 rounding
        fresh = torch.rand(shape)
        with torch.no_grad():
            expected = model(fresh).numpy()
        assert relative_error(run_resized(data, nhwc(fresh)), expected) <= 1e-5
        assert relative_error(np.asarray(keras_model(nhwc(fresh))), expected) <= 1e-5


def test_mobilenet_v3_with_batch_free_resized_to_1_and_4():
    torch.manual_seed(0)
    model = import_torchvision().models.mobilenet_v3_large(weights=None).eval()
    x = torch.rand(2, 3, 96, 96)
    data = ferry.pytorch_to_tflite(model, [x], input_shapes={x: (None, 3, 96, 96)}, verbose=False)
    detail = Interpreter(model_content=bytes(data)).get_input_details()[0]
    assert list(detail["shape_signature"]) == [-1, 96, 96, 3]
    for batch in (1, 4):
        fresh = torch.rand(batch, 3, 96, 96)
        with torch.no_grad():
            expected = model(fresh).numpy()
        assert relative_error(run_resized(data, nhwc(fresh)), expected) <= 1e-4


def test_a_reshape_to_free_sizes_its_input_does_not_have_computes_them():
    """b*t and n*2 are not sizes of the input: one is left to the reshape (-1), the other is
    computed at run time."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 4, 6)
    free = {"input_shapes": {x: (None, None, None, 6)}}
    order = {"inputs_channel_order": ferry.ChannelOrder.PYTORCH}
    data = ferry.pytorch_to_tflite(Unfold(), [x], verbose=False, **free, **order)
    keras_model = ferry.pytorch_to_keras(Unfold(), [x], verbose=False, **free, **order)
    for shape in [(1, 5, 3, 6), (4, 2, 7, 6)]:
        fresh = torch.rand(shape)
        expected = Unfold()(fresh).numpy()
        for got in (run_resized(data, fresh.numpy()), np.asarray(keras_model(fresh.numpy()))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


class Unfold(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, c = x.shape
        return torch.relu(x).reshape(b * t, n * 2, c // 2)


class CeilPools(nn.Module):
    """SqueezeNet's and GoogLeNet's pools: the last window may be partial, so how many there
    are depends on each size's parity."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.b = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.c = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.b(self.a(x)))


def test_ceil_mode_max_pooling_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 21, 18)
    sizes = [(1, 3, 17, 22), (3, 3, 30, 31), (1, 3, 9, 8)]  # odd and even, smaller and larger
    check_at_sizes(CeilPools(), x, (None, 3, None, None), sizes)


def test_ceil_mode_pooling_whose_windows_may_start_past_the_input_is_refused_clearly():
    model = nn.MaxPool2d(2, 3, ceil_mode=True)  # stride 3 > kernel 2: PyTorch drops such windows
    x = torch.rand(1, 3, 9, 9)
    with pytest.raises(ConversionError, match="ceil_mode=True and a stride above"):
        ferry.pytorch_to_tflite(model, [x], input_shapes={x: (1, 3, None, None)}, verbose=False)


class Tagger(nn.Module):
    """A 2-layer bidirectional tagger, as in the benchmarks."""

    def __init__(self, rnn: type[nn.RNNBase], bidirectional: bool = True) -> None:
        super().__init__()
        self.rnn = rnn(16, 24, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(48 if bidirectional else 24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


class LastState(nn.Module):
    """An unbatched, time-major LSTM whose final hidden state is read too."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(16, 8, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, (h, _) = self.rnn(x)
        return y.sum(0) + h.flatten()


@pytest.mark.parametrize("model", [Tagger(nn.LSTM), LastState()], ids=["tagger", "last_state"])
def test_an_lstm_over_a_free_number_of_time_steps(model):
    """One UNIDIRECTIONAL_SEQUENCE_LSTM per direction and layer runs over any length."""
    torch.manual_seed(0)
    model = model.eval()
    batched = isinstance(model, Tagger)
    x = torch.randn(2, 12, 16) if batched else torch.randn(12, 16)
    options = {
        "input_shapes": {x: (2, None, 16)} if batched else {x: (None, 16)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,  # a sequence, not an image
        "verbose": False,
    }
    data, keras_model, ops = convert_both(model, [x], **options)
    assert ops["UNIDIRECTIONAL_SEQUENCE_LSTM"] == (4 if batched else 2)
    for steps in (1, 5, 40):
        fresh = torch.randn(2, steps, 16) if batched else torch.randn(steps, 16)
        with torch.no_grad():
            expected = model(fresh).numpy()
        for got in (run_resized(data, fresh.numpy()), np.asarray(keras_model(fresh.numpy()))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
def test_a_gru_over_a_free_number_of_time_steps(bidirectional):
    """TFLite has no GRU builtin: each direction loops over the steps (WHILE), Keras runs its
    GRU layer over any length."""
    torch.manual_seed(0)
    model = Tagger(nn.GRU, bidirectional).eval()
    x = torch.randn(2, 12, 16)
    options = {
        "input_shapes": {x: (2, None, 16)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data, keras_model, ops = convert_both(model, [x], **options)
    assert ops["WHILE"] == 2 * (2 if bidirectional else 1)  # per layer and direction
    for steps in (1, 5, 40):
        fresh = torch.randn(2, steps, 16)
        with torch.no_grad():
            expected = model(fresh).numpy()
        for got in (run_resized(data, fresh.numpy()), np.asarray(keras_model(fresh.numpy()))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


def test_a_recurrent_layer_with_a_free_batch_is_refused_clearly():
    x = torch.randn(2, 12, 16)
    with pytest.raises(ConversionError, match="not a free batch yet"):
        ferry.pytorch_to_tflite(
            Tagger(nn.LSTM).eval(), [x], input_shapes={x: (None, 12, 16)}, verbose=False
        )


class Heads(nn.Module):
    """Attention's head split and merge, sized from the runtime shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        h = x.view(b, t, 4, c // 4).transpose(1, 2)
        h = torch.relu(h) * 2 - h.sigmoid()
        return h.transpose(1, 2).reshape(b, t, c)


def test_head_split_and_merge_with_batch_and_length_free():
    """Two free sizes in one reshape: the target is built at run time from the input's own
    sizes (SHAPE + GATHER + CONCATENATION), on both back ends."""
    model = Heads()
    x = torch.randn(2, 7, 16)
    options = {
        "input_shapes": {x: (None, None, 16)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data = ferry.pytorch_to_tflite(model, [x], **options)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert ops["SHAPE"] == ops["GATHER"] == ops["RESHAPE"] == 2
    keras_model = ferry.pytorch_to_keras(model, [x], **options)
    assert tuple(keras_model.inputs[0].shape) == (None, None, 16)
    for shape in [(1, 3, 16), (5, 11, 16)]:
        fresh = torch.randn(shape)
        expected = model(fresh).numpy()
        got = run_resized(data, fresh.numpy())
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE
        assert np.abs(np.asarray(keras_model(fresh.numpy())) - expected).max() <= TOLERANCE


def test_saved_model_signature_keeps_the_free_sizes(tmp_path):
    import tensorflow as tf

    torch.manual_seed(0)
    model = Elementwise().eval()
    x = torch.randn(2, 3, 5, 7)
    keras_model = ferry.pytorch_to_keras(
        model, [x], dynamic_dims={x: {0: "batch", 2: "height"}}, verbose=False
    )
    keras_model.export(str(tmp_path / "saved"), verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    spec = restored.signatures["serve"].structured_input_signature[1]
    assert [tuple(s.shape) for s in spec.values()] == [(None, None, 7, 3)]
    fresh = torch.randn(4, 3, 9, 7)
    with torch.no_grad():
        expected = nhwc(model(fresh))
    got = np.asarray(restored.serve(tf.constant(nhwc(fresh))))
    assert np.abs(got - expected).max() <= TOLERANCE


def test_transformer_encoder_with_batch_and_length_free_on_both_back_ends():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 10, 32)
    options = {
        "input_shapes": {x: (None, None, 32)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data = ferry.pytorch_to_tflite(model, [x], **options)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert ops["BATCH_MATMUL"] == 4 and ops["TRANSPOSE"] == 8  # as the static file has
    keras_model = ferry.pytorch_to_keras(model, [x], **options)
    for shape in [(1, 3, 32), (4, 17, 32)]:
        fresh = torch.randn(shape)
        with torch.no_grad():
            expected = model(fresh).numpy()
        got = run_resized(data, fresh.numpy())
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-5
        assert np.abs(np.asarray(keras_model(fresh.numpy())) - expected).max() <= 1e-5


def test_attention_with_a_padding_mask_at_free_sizes_on_both_back_ends():
    """The key padding mask is an input sharing the batch and length: PyTorch makes it a float
    mask (zeros_like + masked_fill), which the attention adds to the scores at run time."""
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 2, batch_first=True).eval()

    class Masked(nn.Module):
        def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
            return attention(x, x, x, key_padding_mask=pad, need_weights=False)[0]

    x, pad = torch.randn(2, 5, 16), torch.zeros(2, 5, dtype=torch.bool)
    pad[1, 3:] = True
    options = {
        "dynamic_dims": {x: {0: "b", 1: "t"}, pad: {0: "b", 1: "t"}},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "outputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data = ferry.pytorch_to_tflite(Masked(), [x, pad], **options)
    keras_model = ferry.pytorch_to_keras(Masked(), [x, pad], **options)
    for batch, length in [(1, 3), (3, 9)]:
        fresh = torch.randn(batch, length, 16)
        mask = torch.zeros(batch, length, dtype=torch.bool)
        mask[-1, length // 2 :] = True
        with torch.no_grad():
            expected = Masked()(fresh, mask).numpy()
        got = run_resized(data, fresh.numpy(), mask.numpy())
        assert np.abs(got - expected).max() <= 1e-5
        got = np.asarray(keras_model([fresh.numpy(), mask.numpy()]))
        assert np.abs(got - expected).max() <= 1e-5


def test_attention_traced_at_a_batch_of_one_with_the_batch_free():
    """nobuco's examples trace a batch of one: the free batch is traced at 2 (the example
    repeated), so attention, which takes other calls at 1, follows it too. The caller's tensor
    is left as it was."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    model = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).eval()
    x = torch.randn(1, 6, 16)
    kept = x.clone()
    data = ferry.pytorch_to_tflite(
        model,
        [x],
        input_shapes={x: (None, 6, 16)},
        inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        verbose=False,
    )
    assert torch.equal(x, kept) and x.shape == (1, 6, 16)
    for batch in (1, 3):
        fresh = torch.randn(batch, 6, 16)
        with torch.no_grad():
            expected = model(fresh).numpy()
        assert np.abs(run_resized(data, fresh.numpy()) - expected).max() <= 1e-5


class Upsampling(nn.Module):
    """Upsampling by a whole factor, to a size computed from the input's, and a crop at a
    bound that follows the image size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = ferry.shape(x)[2:]
        y = nn.functional.interpolate(self.conv(x), scale_factor=2, mode="nearest")
        y = nn.functional.interpolate(y, size=(h * 3 // 2, w + 1), mode="bilinear")
        return y[:, :, : h // 2]


def test_upsampling_to_computed_sizes_on_both_back_ends():
    torch.manual_seed(0)
    model = Upsampling().eval()
    x = torch.rand(1, 3, 8, 10)
    options = {
        "input_shapes": {x: (None, 3, None, None)},
        "outputs_channel_order": ferry.ChannelOrder.TENSORFLOW,
        "verbose": False,
    }
    data, keras_model, ops = convert_both(model, [x], **options)
    assert ops["RESIZE_NEAREST_NEIGHBOR"] == 1 and ops["RESIZE_BILINEAR"] == 1
    assert "TRANSPOSE" not in ops
    for shape in [(2, 3, 5, 7), (1, 3, 16, 9)]:
        fresh = torch.rand(shape)
        with torch.no_grad():
            expected = nhwc(model(fresh))
        for got in (run_resized(data, nhwc(fresh)), np.asarray(keras_model(nhwc(fresh)))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


def test_upsampling_by_a_fraction_at_a_free_size_is_refused_clearly():
    model = nn.Upsample(scale_factor=1.5, mode="bilinear")
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(SymbolicShapeError, match="scale_factor that is not a whole number"):
        ferry.pytorch_to_tflite(model, [x], input_shapes={x: (1, 3, None, None)}, verbose=False)


def test_segmentation_at_two_image_sizes_from_one_file():
    """DeepLabV3-ResNet50 with batch and image size free: its head upsamples to the input's
    size, and its image pooling back to the feature map's, both read at run time."""
    torch.manual_seed(0)
    segmentation = import_torchvision().models.segmentation
    model = segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=5, aux_loss=False
    ).eval()
    x = torch.rand(1, 3, 64, 64)
    options = {
        "input_shapes": {x: (None, 3, None, None)},
        "outputs_channel_order": ferry.ChannelOrder.TENSORFLOW,
        "verbose": False,
    }
    data, keras_model, ops = convert_both(model, [x], **options)
    assert ops["RESIZE_BILINEAR"] == 2 and "TRANSPOSE" not in ops
    for shape in [(1, 3, 80, 48), (2, 3, 57, 70)]:
        fresh = torch.rand(shape)
        with torch.no_grad():
            expected = nhwc(model(fresh)["out"])
        assert relative_error(run_resized(data, nhwc(fresh)), expected) <= 1e-5
        got = keras_model(nhwc(fresh))
        assert (
            relative_error(np.asarray(got["out"] if isinstance(got, dict) else got), expected)
            <= 1e-4
        )


class Reductions(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True) + x.amax(dim=3, keepdim=True)
        return torch.softmax(x - pooled, dim=2) * x.sum(1, keepdim=True)


def test_reductions_over_free_dims_count_at_run_time():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    options = {"input_shapes": {x: (None, 3, None, None)}, "verbose": False}
    data = ferry.pytorch_to_tflite(Reductions(), [x], **options)
    keras_model = ferry.pytorch_to_keras(Reductions(), [x], **options)
    for shape in OTHER_SIZES:
        fresh = torch.randn(shape)
        expected = nhwc(Reductions()(fresh))
        for got in (run_resized(data, nhwc(fresh)), np.asarray(keras_model(nhwc(fresh)))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 64)
        self.block = GptBlock()
        self.head = nn.Linear(64, 100, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.embed(tokens)))


def test_gpt_style_decoder_with_batch_and_length_free_on_both_back_ends():
    """Token embedding, causal attention whose mask and rotary positions follow the run-time
    length (RANGE, LESS_EQUAL), at lengths down to one token."""
    torch.manual_seed(0)
    model = Decoder().eval()
    tokens = torch.randint(0, 100, (2, 16))
    options = {
        "input_shapes": {tokens: (None, None)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data, keras_model, ops = convert_both(model, [tokens], **options)
    assert ops["RANGE"] >= 2 and ops["LESS_EQUAL"] == 1
    for shape in [(1, 5), (3, 33), (2, 1)]:
        fresh = torch.randint(0, 100, shape)
        with torch.no_grad():
            expected = model(fresh).numpy()
        for got in (run_resized(data, fresh.numpy()), np.asarray(keras_model(fresh.numpy()))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


class Masks(nn.Module):
    """Tensors made from sizes: zeros and full of a computed shape, and arange with a step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        ramp = torch.arange(0, 2 * t, 2).float()
        return x + torch.zeros(b, t, 1) + torch.full((1, t, 1), 0.5) * ramp[None, :, None]


def test_tensors_made_from_free_sizes_on_both_back_ends():
    x = torch.randn(2, 6, 3)
    options = {
        "input_shapes": {x: (None, None, 3)},
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data = ferry.pytorch_to_tflite(Masks(), [x], **options)
    keras_model = ferry.pytorch_to_keras(Masks(), [x], **options)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert ops["FILL"] == 2 and ops["RANGE"] == 1
    for shape in [(1, 2, 3), (4, 11, 3)]:
        fresh = torch.randn(shape)
        expected = Masks()(fresh).numpy()
        for got in (run_resized(data, fresh.numpy()), np.asarray(keras_model(fresh.numpy()))):
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE


class Crop(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x[:, : x.shape[1] // 2 + 1]) * 2


def test_validate_shapes_runs_the_converted_model_at_other_sizes_on_both_back_ends(tmp_path):
    x = torch.randn(2, 8)
    options = {
        "input_shapes": {x: (None, None)},
        "validate_shapes": [(1, 3), [(5, 20)], {"input_0": (2, 1)}],
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
        "return_report": True,
    }
    _, report = ferry.pytorch_to_tflite(Crop(), [x], **options)
    _, keras_report = ferry.pytorch_to_keras(Crop(), [x], **options)
    for r in (report, keras_report):
        assert [check.shapes for check in r.sizes] == [((1, 3),), ((5, 20),), ((2, 1),)]
        assert all(check.ok and max(check.max_abs) <= TOLERANCE for check in r.sizes)
    page = tmp_path / "report.html"
    ferry.pytorch_to_tflite(Crop(), [x], **options, save_trace_html=str(page))
    text = page.read_text()
    assert "Other sizes" in text and "✓ at input_0 (5, 20): max abs diff" in text


def test_a_size_beyond_tolerance_fails_the_conversion_and_writes_nothing(tmp_path, monkeypatch):
    """The traced size is right; another size (here a LiteRT run that returns zeros) is not."""
    import ferry.tflite

    def wrong(model: object, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [np.zeros((inputs[0].shape[0], inputs[0].shape[1] // 2 + 1), np.float32)]

    monkeypatch.setattr(ferry.tflite, "run_tflite", wrong)
    x = torch.rand(2, 8) + 1
    path = tmp_path / "crop.tflite"
    with pytest.raises(ferry.ValidationError, match=r"at another size .* input_0 \(3, 9\)"):
        ferry.pytorch_to_tflite(
            Crop(),
            [x],
            input_shapes={x: (None, None)},
            validate_shapes=[(3, 9)],
            inputs_channel_order=ferry.ChannelOrder.PYTORCH,
            path=path,
            verbose=False,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "shapes, message",
    [
        ([(3, 9, 1)], "another rank"),
        ([(0, 9)], "dim 0 must be at least 1"),
        ([[(3, 9), (3, 9)]], "2 shapes for 1 inputs"),
        ([{"nothing": (3, 9)}], "not an input"),
    ],
)
def test_bad_validate_shapes_are_clear_errors_before_any_work(shapes, message):
    x = torch.rand(2, 8)
    with pytest.raises(ValueError, match=message):
        ferry.pytorch_to_tflite(
            Crop(), [x], input_shapes={x: (None, None)}, validate_shapes=shapes, verbose=False
        )


def test_validate_shapes_needs_a_free_dim():
    x = torch.rand(2, 8)
    with pytest.raises(ValueError, match="no input dim is free"):
        ferry.pytorch_to_tflite(Crop(), [x], validate_shapes=[(2, 8)], verbose=False)
    with pytest.raises(ValueError, match="dim 0 is not free"):
        ferry.pytorch_to_tflite(
            Crop(), [x], input_shapes={x: (2, None)}, validate_shapes=[(3, 8)], verbose=False
        )


class PadExpand(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.pad(x, (1, 2, 0, 3), value=0.5)
        y = nn.functional.pad(y, (2, 2, 1, 1), mode="reflect")
        weights = y.mean(dim=(2, 3), keepdim=True).expand(-1, -1, y.shape[2], y.shape[3])
        return y * weights.expand_as(y)


def test_pad_and_expand_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    check_at_sizes(PadExpand(), x, (None, 3, None, None), [(1, 3, 4, 9), (3, 3, 11, 6)])


def test_replicate_padding_at_free_sizes_is_refused_clearly():
    x = torch.randn(2, 3, 5, 7)
    with pytest.raises(ConversionError, match="mode='replicate' at free sizes"):
        ferry.pytorch_to_tflite(
            nn.ReplicationPad2d(1), [x], input_shapes={x: (None, 3, 5, 7)}, verbose=False
        )


class Repeat(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat(2, 1, 3) + x.repeat(1, 2, 1).sum(dim=1, keepdim=True).repeat(2, 1, 3)


def test_repeat_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4)
    check_at_sizes(Repeat(), x, (None, None, 4), [(1, 3, 4), (3, 8, 4)], channels_last=False)


class SquareMask(nn.Module):
    """nn.Transformer's causal mask for the run-time length, added to scores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        scores = x @ x.transpose(1, 2) + mask
        return torch.softmax(scores, dim=-1) + torch.tril(torch.ones(t, t), diagonal=-1)


def test_triangular_masks_of_the_run_time_length_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4)
    check_at_sizes(SquareMask(), x, (None, None, 4), [(1, 1, 4), (3, 11, 4)], channels_last=False)


class MoreElementwise(nn.Module):
    """Division, powers, clamps, normalization, comparisons and selects at free sizes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.hardtanh(x, -0.5, 0.5) + torch.clamp(x, min=-1.0) / (x.abs() + 1)
        y = y + torch.floor_divide(x * 4, 3) + x.pow(2) - torch.maximum(x, y) * 0.5
        y = y + nn.functional.normalize(x, dim=1) + nn.functional.normalize(x, p=1.0, dim=3)
        keep = (x > 0.2) & (y <= 1.0) | ~(x < -0.8)
        return torch.where(keep, y, 1 - x) + torch.minimum(y, x.clamp(max=0.3))


def test_more_elementwise_ops_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    check_at_sizes(MoreElementwise(), x, (None, 3, None, None), [(1, 3, 4, 9), (3, 3, 11, 2)])


class PoolRoll(nn.Module):
    """Average pooling (padding counted, as by default) and a roll along a fixed dim."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.avg_pool2d(x, 3, stride=2, padding=1)
        return torch.roll(y, shifts=1, dims=1) + nn.functional.avg_pool2d(y, 2)[:, :, :1, :1]


def test_average_pooling_and_roll_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 12)
    check_at_sizes(PoolRoll(), x, (None, 3, None, None), [(1, 3, 7, 8), (3, 3, 16, 11)])


def test_average_pooling_that_skips_padding_at_a_free_image_size_is_refused_clearly():
    model = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)
    x = torch.randn(1, 3, 9, 9)
    with pytest.raises(ConversionError, match="count_include_pad=False at a free image size"):
        ferry.pytorch_to_tflite(model, [x], input_shapes={x: (1, 3, None, None)}, verbose=False)


class FixedUpsampling(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=(12, 10), mode="bilinear", align_corners=False)


def test_upsampling_to_a_fixed_size_with_the_batch_free():
    """PyTorch's own upsampling reads every input size, the free batch too (a segmentation
    head at a fixed image size)."""
    x = torch.randn(1, 3, 6, 5)
    options = {"input_shapes": {x: (None, 3, 6, 5)}, "validate_shapes": [(3, 3, 6, 5)]}
    ferry.pytorch_to_tflite(FixedUpsampling(), [x], verbose=False, **options)
    ferry.pytorch_to_keras(FixedUpsampling(), [x], verbose=False, **options)


def test_one_dimensional_convolutions_with_batch_and_length_free():
    """A 1-D op runs as a 2-D one on [N, 1, W, C]; with two free sizes the unit dim is added and
    dropped by EXPAND_DIMS and SQUEEZE (a RESHAPE's target holds one -1 only)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(8, 16, 3, padding=1), nn.GELU(), nn.Conv1d(16, 16, 3, stride=2, padding=1)
    ).eval()
    x = torch.randn(1, 8, 20)
    options = {
        "input_shapes": {x: (None, 8, None)},
        "validate_shapes": [(3, 8, 13), (2, 8, 41)],
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    data = ferry.pytorch_to_tflite(model, [x], **options)
    ops = collections.Counter(op[0] for op in ferry._core.read_tflite(bytes(data))["ops"])
    assert ops["EXPAND_DIMS"] == 2 and ops["SQUEEZE"] == 2
    ferry.pytorch_to_keras(model, [x], **options)


class Pick(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(2, 1)[:, :, None] * torch.narrow(x, 2, 1, 2) + x[..., :1]


def test_select_and_narrow_along_a_fixed_dim_at_free_sizes():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4)
    check_at_sizes(Pick(), x, (None, None, 4), [(1, 2, 4), (3, 9, 4)], channels_last=False)


class NarrowFree(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.narrow(x, 1, 0, 3)


def test_narrow_of_a_free_dim_is_refused_clearly():
    x = torch.randn(2, 5, 4)
    with pytest.raises(ConversionError, match="narrow of a free dim is not supported yet"):
        ferry.pytorch_to_tflite(
            NarrowFree(),
            [x],
            input_shapes={x: (2, None, 4)},
            verbose=False,
            inputs_channel_order=ferry.ChannelOrder.PYTORCH,
        )


def test_adaptive_pooling_to_a_fixed_size_with_the_batch_free():
    """VGG's and AlexNet's pooling to 7x7 (here 3x3) keeps the batch free."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(4 * 9, 2)).eval()
    x = torch.randn(2, 4, 6, 6)
    options = {
        "input_shapes": {x: (None, 4, 6, 6)},
        "validate_shapes": [(1, 4, 6, 6), (5, 4, 6, 6)],
    }
    ferry.pytorch_to_tflite(model, [x], verbose=False, **options)
    ferry.pytorch_to_keras(model, [x], verbose=False, **options)


class PackedPositions(nn.Module):
    """Hugging Face's attention-mask pattern at free sizes: positions read at aranges over the
    run-time batch and length broadcast against each other (advanced indexing), the bool mask
    expanded, a running count (cumsum along the free length), GPT-2's Conv1D (addmm) and a
    negative index into the free length."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 6))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[1]
        positions = (x[..., 0] > 0).long().cumsum(-1)
        bi = torch.arange(b)[:, None, None, None]
        qi = torch.arange(t)[None, None, :, None]
        ki = torch.arange(t)[None, None, None, :]
        mask = (positions[bi, qi] == positions[bi, ki]).expand(b, 2, t, t)
        h = torch.addmm(self.bias, x.reshape(-1, 4), self.weight).reshape(b, t, 6)
        scores = torch.where(mask, (h @ h.transpose(1, 2))[:, None], -1.0).softmax(-1)
        ends = positions[:, torch.tensor([-1, 0])].sum(-1).float()
        return scores + ends[:, None, None, None]


def test_attention_mask_pattern_of_hugging_face_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4)
    check_at_sizes(
        PackedPositions(), x, (None, None, 4), [(1, 3, 4), (3, 9, 4)], channels_last=False
    )


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert", "roberta", "t5-encoder"])
def test_transformers_models_with_batch_and_length_free(name):
    """Small random-weight models of the zoo: their masks and positions are built from the
    run-time batch and length."""
    pytest.importorskip("transformers")
    from ferry.zoo.models import zoo

    (entry,) = [m for m in zoo() if m.name == name]
    model = entry.build().eval()
    inputs = entry.inputs(torch.Generator().manual_seed(0))  # ids, and a mask for BERT
    length = inputs[0].shape[1]
    options = {
        "dynamic_dims": {x: {0: "batch", 1: "length"} for x in inputs},
        "validate_shapes": [[(1, 5)] * len(inputs), [(3, length + 7)] * len(inputs)],
        "inputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "outputs_channel_order": ferry.ChannelOrder.PYTORCH,
        "verbose": False,
    }
    ferry.pytorch_to_tflite(model, inputs, **options)
    ferry.pytorch_to_keras(model, inputs, **options)


class GroupNorms(nn.Module):
    """wav2vec2's group norm over conv features of a free length, and one over an image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)
        self.gn = nn.GroupNorm(4, 8)
        self.conv2 = nn.Conv2d(3, 6, 3, padding=1)
        self.gn2 = nn.GroupNorm(2, 6)

    def forward(self, x: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gn(self.conv(x)).mean(dim=2), self.gn2(self.conv2(img))


def test_group_norm_at_free_sizes_on_both_back_ends():
    torch.manual_seed(0)
    x, img = torch.randn(2, 4, 10), torch.randn(2, 3, 9, 7)
    options = {
        "input_shapes": {x: (None, 4, None), img: (None, 3, None, None)},
        "validate_shapes": [[(1, 4, 5), (1, 3, 5, 11)], [(3, 4, 17), (3, 3, 12, 6)]],
        "verbose": False,
    }
    ferry.pytorch_to_tflite(GroupNorms(), [x, img], **options)
    ferry.pytorch_to_keras(GroupNorms(), [x, img], **options)
