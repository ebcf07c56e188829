"""Complex tensors inside a model (FFTs), held as their real view [..., 2]: one-line cases on
both back ends. Transforms are dense products with cos/sin tables, so the tolerance is that of
a float32 sum over the transformed length."""

from __future__ import annotations

import pytest
import torch
from op_cases import PARAMS, case, params

import ferry

S2, S3, S4 = (2, 16), (2, 3, 16), (1, 2, 8, 10)
TOL = 2e-5


def spectrum(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.rfft(x).abs()


def band_pass(x: torch.Tensor) -> torch.Tensor:
    spec = torch.fft.rfft(x, dim=-1)
    keep = torch.zeros(spec.shape[-1])
    keep[2:6] = 1.0
    return torch.fft.irfft(spec * keep, n=x.shape[-1])


CASES = [
    case("rfft-abs", spectrum, S2, tol=TOL),
    case("rfft-abs-odd", spectrum, (3, 15), tol=TOL),
    case(
        "rfft-real-imag", lambda x: (lambda s: s.real - 2 * s.imag)(torch.fft.rfft(x)), S3, tol=TOL
    ),
    case("rfft-view-as-real", lambda x: torch.view_as_real(torch.fft.rfft(x, dim=1)), S3, tol=TOL),
    case("rfft-ortho", lambda x: torch.fft.rfft(x, norm="ortho").abs(), S2, tol=TOL),
    case("rfft-n-pad", lambda x: torch.fft.rfft(x, n=20).abs(), S2, tol=TOL),
    case("fft-real-input", lambda x: torch.view_as_real(torch.fft.fft(x)), S2, tol=TOL),
    case("rfft2", lambda x: torch.fft.rfft2(x).abs(), S4, tol=TOL),
    case("irfft-round-trip", lambda x: torch.fft.irfft(torch.fft.rfft(x), n=16), S2, tol=TOL),
    case("irfft-odd", lambda x: torch.fft.irfft(torch.fft.rfft(x), n=15), (2, 15), tol=TOL),
    case("band-pass", band_pass, S3, tol=TOL),
    case("ifft", lambda x: torch.view_as_real(torch.fft.ifft(torch.fft.fft(x) * 2)), S2, tol=TOL),
    case(
        "complex-product",
        lambda x, y: (torch.fft.rfft(x) * torch.fft.rfft(y)).abs(),
        S2,
        S2,
        tol=TOL,
    ),
    case(
        "complex-quotient",
        lambda x: torch.view_as_real(torch.fft.rfft(x) / (torch.fft.rfft(x) + 3)),
        S2,
        tol=1e-4,
    ),
    case(
        "complex-sum", lambda x: (torch.fft.rfft(x) - torch.fft.rfft(x * 2) + 1).abs(), S2, tol=TOL
    ),
]


@pytest.mark.parametrize(PARAMS, params(CASES))
def test_complex(case, backend, channels_last):
    case.check(backend, channels_last)


def test_a_complex_op_without_a_rule_is_named():
    def squared_spectrum(x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x) ** 2, n=16)

    with pytest.raises(ferry.UnsupportedOpsError, match=r"aten\.pow\.Tensor_Scalar"):
        ferry.pytorch_to_tflite(ferry_fn(squared_spectrum), [torch.randn(2, 16)], verbose=False)


def test_a_complex_output_is_refused_with_the_way_out():
    with pytest.raises(ferry.ConversionError, match=r"view_as_real"):
        ferry.pytorch_to_tflite(ferry_fn(lambda x: torch.fft.rfft(x)), [torch.randn(2, 8)])


def ferry_fn(fn):
    from op_cases import Fn

    return Fn(fn).eval()
