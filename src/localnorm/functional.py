"""Public functional API: validate -> dispatch -> custom op."""

from __future__ import annotations

import torch

from ._spec import make_lrn_spec
from .ops import lrn as _lrn_ops


def local_response_norm(
    input: torch.Tensor,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
    *,
    region: str = "across",
    before: int | None = None,
    dim: int = 1,
) -> torch.Tensor:
    r"""Local response normalization (lateral inhibition), exact and fused.

    Across channels (Krizhevsky et al., "ImageNet Classification with Deep Convolutional
    Neural Networks", NIPS 2012, section 3.3), with PyTorch's and Caffe's scaling of alpha:

    .. math::
        y_c = x_c \left(k + \frac{\alpha}{n} \sum_{j=c-b}^{c+n-1-b} x_j^2\right)^{-\beta}

    where ``n = size`` and ``b = before`` (default ``size // 2``: for an even size the extra
    element lies *below* c, as in PyTorch; ONNX and cuDNN use ``before = (size - 1) // 2``).
    Channels outside ``[0, C)`` count as zeros and still count in n.

    Within a channel (``region="within"``; Caffe WITHIN_CHANNEL, cuda-convnet ``rnorm``) the
    sum runs over an ``size^d`` box on the d spatial axes, zero padded, and alpha is divided
    by ``size^d`` (padding counts, as in Caffe). ``k`` stays explicit (Caffe fixes it to 1).

    Half-precision inputs accumulate in float32 and are stored back in their dtype.

    Shape:
        input: (N, C, \*spatial), rank >= 3 (rank 3 to 5 for ``region="within"``), with the
        channel axis at ``dim`` (``dim=-1`` for NHWC tensors as in TensorFlow). Output: same
        shape, dtype and memory format.

    Example:
        >>> import torch, localnorm
        >>> x = torch.randn(2, 8, 5, 5)
        >>> y = localnorm.local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0)
        >>> torch.allclose(y, torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0))
        True
    """
    spec = make_lrn_spec(input, size, alpha, beta, k, region, before, dim)
    return _lrn_ops.call(input, spec)
