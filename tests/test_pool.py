"""The cache of CPU output buffers (backends/_pool.py): reuse, lifetime, cap, layouts."""

from __future__ import annotations

import gc

import pytest
import torch

from _helpers import randn, rel_close
from localnorm import local_response_norm
from localnorm.backends import _pool
from localnorm.reference import lrn_forward

SHAPE = (4, 16, 130, 130)  # 4.3 MB of float32: above the cache's 4 MiB threshold


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.delenv("LOCALNORM_CPU_CACHE_MB", raising=False)
    _pool.empty_cache()
    yield
    _pool.empty_cache()


def test_same_layout_as_empty_like_and_reused_after_free():
    x = randn(*SHAPE).to(memory_format=torch.channels_last)
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        t = _pool.empty_like(x, dtype)
        ref = torch.empty_like(x, dtype=dtype)
        assert (t.shape, t.stride(), t.dtype) == (ref.shape, ref.stride(), ref.dtype)
        assert not t._is_view()
        if t.numel() * t.element_size() >= _pool.MIN_BYTES:  # cached: 2 MiB aligned
            assert t.data_ptr() % _pool.HUGE == 0 and not t.untyped_storage().resizable()
    info = _pool.cache_info()
    a = _pool.empty_like(x)
    ptr = a.data_ptr()
    b = _pool.empty_like(x)  # a is alive: b must not share its memory
    assert b.data_ptr() != ptr
    del a
    gc.collect()
    c = _pool.empty_like(x)
    assert c.data_ptr() == ptr  # a's buffer came back and was handed out again
    assert _pool.cache_info()["hits"] > info["hits"]


def test_a_view_keeps_the_buffer_leased():
    x = randn(*SHAPE)
    y = _pool.empty_like(x)
    ptr, view = y.data_ptr(), y[1:]
    del y
    assert _pool.empty_like(x).data_ptr() != ptr  # the view still owns the memory
    view.fill_(1.0)
    assert torch.all(view == 1.0)
    del view
    assert _pool.empty_like(x).data_ptr() == ptr


def test_reused_buffer_is_fully_overwritten():
    x = randn(*SHAPE, seed=3)
    y = local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    ptr = y.data_ptr()
    y.fill_(float("nan"))  # stale contents the next output must not show
    del y
    y = local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    assert y.data_ptr() == ptr
    ok, worst = rel_close(y, lrn_forward(x.double().numpy(), 5, 1e-4, 0.75, 2.0), x.dtype)
    assert ok, worst


def test_cap_zero_disables_and_cap_evicts_oldest(monkeypatch):
    x = randn(*SHAPE)
    monkeypatch.setenv("LOCALNORM_CPU_CACHE_MB", "0")
    y = _pool.empty_like(x)
    del y
    assert _pool.cache_info()["buffers"] == 0
    monkeypatch.setenv("LOCALNORM_CPU_CACHE_MB", "10")  # room for one 6 MiB buffer
    a, b = _pool.empty_like(x), _pool.empty_like(x)
    del a, b
    info = _pool.cache_info()
    assert info["buffers"] == 1 and info["bytes"] <= 10 << 20
    _pool.empty_cache()
    assert _pool.cache_info()["buffers"] == 0


def test_bad_cap_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LOCALNORM_CPU_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="LOCALNORM_CPU_CACHE_MB must be a number of MiB >= 0"):
        _pool.empty_like(randn(*SHAPE))
    monkeypatch.setenv("LOCALNORM_CPU_CACHE_MB", "-1")
    with pytest.raises(ValueError, match="got '-1'"):
        _pool.empty_like(randn(*SHAPE))


def test_small_outputs_use_torch_allocator():
    x = randn(2, 3, 4, 5)
    before = _pool.cache_info()
    y = _pool.empty_like(x)
    assert y.untyped_storage().resizable()  # a plain torch allocation
    assert _pool.cache_info()["misses"] == before["misses"]


def _child(q):  # runs in a forked process, as a DataLoader worker does
    from localnorm import backends
    from localnorm._spec import make_lrn_spec

    torch.set_num_threads(1)  # what DataLoader's worker loop does first
    x = randn(*SHAPE, seed=5)
    y = local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    ok, _ = rel_close(y, lrn_forward(x.double().numpy(), 5, 1e-4, 0.75, 2.0), x.dtype)
    spec = make_lrn_spec(x, 5, 1e-4, 0.75, 2.0, "across", None, 1)
    q.put((ok, _pool.cache_info()["buffers"], backends.select("lrn", x, spec).NAME))


def test_forked_worker_works_with_an_empty_cache():
    # a child forked after numba's GNU OpenMP pool started must not use it (libgomp terminates
    # the child: "fork() called from a process already using GNU OpenMP"): automatic
    # selection gives it the composite backend, and its output cache starts empty
    import multiprocessing as mp

    x = randn(*SHAPE)
    y = local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    del y  # the parent now holds a free buffer
    assert _pool.cache_info()["buffers"] == 1
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    ok, buffers, backend = q.get(timeout=120)
    p.join(timeout=60)
    assert p.exitcode == 0
    assert ok and buffers == 0  # the parent's free buffer is not the child's
    import numba

    if numba.threading_layer() == "omp":
        assert backend == "composite"
