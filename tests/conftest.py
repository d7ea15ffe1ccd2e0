"""Shared test configuration: one tolerance table, seeded inputs, backend forcing."""

from __future__ import annotations

import os

import torch

# CI has no GPU: every Triton kernel runs in interpreter mode on CPU. Must be set before
# triton.jit decorates a kernel, i.e. before localnorm.backends.triton_lrn is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
