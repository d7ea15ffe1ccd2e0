"""Custom ops (``torch.library``) registered under the ``localnorm`` namespace."""

from . import lrn

__all__ = ["lrn"]
