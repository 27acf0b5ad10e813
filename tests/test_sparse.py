"""graphls.sparse: CSR products against dense float64 matmuls, and the compact CSR form."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from graphls.sparse import TransposedCSR, compact_csr, csr_matmul

F64 = torch.float64


@given(n=st.integers(1, 6), m=st.integers(1, 6), c=st.integers(1, 4),
       density=st.sampled_from([0.0, 0.3, 1.0]), symmetric=st.booleans(),
       seed=st.integers(0, 2**16))
def test_csr_matmul_equals_dense(n, m, c, density, symmetric, seed):
    g = torch.Generator().manual_seed(seed)
    if symmetric:
        m = n
    dense = torch.randn(n, m, generator=g, dtype=F64)
    dense = dense * (torch.rand(n, m, generator=g, dtype=F64) < density)
    if symmetric:
        dense = dense + dense.t()
    adj = dense.to_sparse_csr()
    x = torch.randn(m, c, generator=g, dtype=F64, requires_grad=True)
    grad = torch.randn(n, c, generator=g, dtype=F64)
    out = csr_matmul(adj, x)
    (gx,) = torch.autograd.grad(out, x, grad)
    torch.testing.assert_close(out, dense @ x.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(gx, dense.t() @ grad, atol=1e-12, rtol=0)
    held = TransposedCSR(adj)
    torch.testing.assert_close(held.get().to_dense(), dense.t(), atol=0, rtol=0)
    if symmetric:
        assert held.get() is adj
    assert held.get() is held.get()  # made once


def test_csr_product_ignores_its_fresh_buffer(monkeypatch):
    """``addmm(beta=0)`` into an uninitialised buffer: garbage (NaN) there never shows."""
    empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, **k: empty(*a, **k).fill_(float("nan")))
    dense = torch.tensor([[0.0, 2.0], [0.0, 0.0], [0.5, -1.0]], dtype=F64)  # an empty row
    x = torch.randn(2, 3, dtype=F64, requires_grad=True)
    out = csr_matmul(dense.to_sparse_csr(), x)
    (gx,) = torch.autograd.grad(out, x, torch.ones(3, 3, dtype=F64))
    torch.testing.assert_close(out, dense @ x, atol=0, rtol=0)
    torch.testing.assert_close(gx, dense.t() @ torch.ones(3, 3, dtype=F64), atol=0, rtol=0)
    empty_adj = torch.zeros(4, 2, dtype=F64).to_sparse_csr()
    assert torch.equal(csr_matmul(empty_adj, x), torch.zeros(4, 3, dtype=F64))


def test_csr_matmul_without_input_grad():
    dense = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, -1.0]], dtype=F64)
    x = torch.randn(2, 3, dtype=F64)
    held = TransposedCSR(dense.to_sparse_csr())
    out = csr_matmul(held.adj, x, held)
    torch.testing.assert_close(out, dense @ x)
    assert not out.requires_grad and held._t is None  # no backward, no transpose made


def test_compact_csr_owns_int32_indices_and_gives_the_same_products():
    """Column indices of a CSR made from COO are a view of the (2, nnz) index; compact
    ones are int32 in a buffer of their own, with bit-for-bit the same float64 products."""
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(9, 6, generator=g, dtype=F64) * (torch.rand(9, 6, generator=g) < 0.4)
    adj = dense.to_sparse().to_sparse_csr()
    assert adj.col_indices().untyped_storage().nbytes() > 8 * adj.col_indices().numel()
    small = compact_csr(adj)
    for ours, theirs in ((small.crow_indices(), adj.crow_indices()),
                         (small.col_indices(), adj.col_indices())):
        assert ours.dtype == torch.int32
        assert ours.untyped_storage().nbytes() == 4 * ours.numel()
        assert torch.equal(ours.long(), theirs)
    x = torch.randn(6, 4, generator=g, dtype=F64, requires_grad=True)
    grad = torch.randn(9, 4, generator=g, dtype=F64)
    out64 = csr_matmul(adj, x)
    out32 = csr_matmul(small, x)
    (g64,) = torch.autograd.grad(out64, x, grad)
    (g32,) = torch.autograd.grad(out32, x, grad)
    torch.testing.assert_close(out32, out64, atol=0, rtol=0)
    torch.testing.assert_close(g32, g64, atol=0, rtol=0)
    torch.testing.assert_close(out32, dense @ x.detach(), atol=1e-12, rtol=0)
    transposed = TransposedCSR(small).get()
    assert transposed.col_indices().dtype == torch.int32
    assert transposed.col_indices().untyped_storage().nbytes() == 4 * transposed._nnz()
