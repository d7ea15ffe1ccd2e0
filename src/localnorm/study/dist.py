"""torch.distributed for the study: DistributedDataParallel over gloo on CPU under torchrun.

``torchrun --nproc_per_node N -m localnorm study ...`` sets ``WORLD_SIZE``, ``RANK`` and the
rendezvous variables; :func:`init` then joins the process group. Each CNN run is trained by all
ranks together: every rank draws the same shuffled global batch, takes its ``rank::world`` share,
and DDP averages the gradients, so N ranks train the same model as one process with the same
global batch (BatchNorm statistics are per rank, and rank 0's buffers are broadcast).
Experiments that train nothing run on rank 0 only; only rank 0 writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when not launched by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError as exc:
        raise ValueError(f"WORLD_SIZE must be an int, got {os.environ['WORLD_SIZE']!r}") from exc


def init() -> bool:
    """Join the gloo process group when launched with WORLD_SIZE > 1; True if distributed."""
    if env_world_size() <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return True


def world() -> tuple[int, int]:
    """(world size, rank); (1, 0) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def is_main() -> bool:
    return world()[1] == 0


def wrap(model: nn.Module) -> nn.Module:
    """DistributedDataParallel around ``model`` inside a process group, else ``model``."""
    if world()[0] > 1:
        return nn.parallel.DistributedDataParallel(model)
    return model


def barrier() -> None:
    if world()[0] > 1:
        dist.barrier()


def broadcast_object(obj: object) -> object:
    """Rank 0's ``obj`` on every rank."""
    if world()[0] <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_ranks(*values: float) -> list[float]:
    """Element-wise sum of ``values`` over every rank."""
    if world()[0] <= 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def gather_object(obj: object) -> list[object]:
    """``obj`` from every rank, in rank order (``[obj]`` outside a process group)."""
    if world()[0] <= 1:
        return [obj]
    out: list[object] = [None] * world()[0]
    dist.all_gather_object(out, obj)
    return out


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(idx: torch.Tensor) -> torch.Tensor:
    """This rank's share of one global batch of indices."""
    size, rank = world()
    return idx[rank::size]
