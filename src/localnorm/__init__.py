"""localnorm: local response normalization and its divisive-normalization family.

``import localnorm`` needs numpy and torch only; numba, triton and the study's packages are
imported lazily, when a backend or command asks for them.
"""

from . import conventions, reference
from .functional import local_response_norm
from .modules import LocalResponseNorm

__version__ = "0.1.0"

__all__ = [
    "LocalResponseNorm",
    "__version__",
    "conventions",
    "local_response_norm",
    "reference",
]
