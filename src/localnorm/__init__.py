"""localnorm: local response normalization and its divisive-normalization family.

``import localnorm`` needs numpy and torch only; numba, triton and the study's packages are
imported lazily, when a backend or command asks for them.
"""

from . import conventions, reference
from .family import (
    GDN,
    DivisiveNorm,
    LocalContrastNorm,
    V1Norm,
    divisive_l1_penalty,
    divisive_norm,
    gamma_from_tensorflow_compression,
    gdn,
    local_contrast_norm,
    v1_norm,
)
from .functional import local_response_norm
from .interop import from_onnx
from .modules import LocalResponseNorm

__version__ = "0.1.0"

__all__ = [
    "GDN",
    "DivisiveNorm",
    "LocalContrastNorm",
    "LocalResponseNorm",
    "V1Norm",
    "divisive_l1_penalty",
    "divisive_norm",
    "from_onnx",
    "gamma_from_tensorflow_compression",
    "gdn",
    "local_contrast_norm",
    "v1_norm",
    "__version__",
    "conventions",
    "local_response_norm",
    "reference",
]
