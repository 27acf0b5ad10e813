"""Structural conv layers: λ = 1 is PyG, intermediate λ is the interpolation, λ = 0 an MLP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.typing import WITH_TORCH_SPARSE
from torch_geometric.utils import to_torch_coo_tensor, to_torch_csr_tensor

from graphls.nn import StructuralGATConv, StructuralGCNConv

F_IN, F_OUT = 4, 3


def features(n: int = 7, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, F_IN, generator=g, dtype=dtype)


def randomize_bias(*mods: torch.nn.Module) -> None:
    """PyG zeros the bias at init; make it non-zero so that "bias counted once" can fail."""
    g = torch.Generator().manual_seed(1)
    bias = torch.randn(mods[0].bias.shape, generator=g)
    with torch.no_grad():
        for m in mods:
            m.bias.copy_(bias)


def gcn_pair(structural: float = 1.0, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    ref = GCNConv(F_IN, F_OUT, **kw).to(dtype)
    ours = StructuralGCNConv(F_IN, F_OUT, structural=structural, **kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    randomize_bias(ref, ours)
    return ref, ours


def gat_pair(structural: float = 1.0, dtype=torch.float64, heads: int = 3, concat: bool = True,
             **kw):
    torch.manual_seed(0)
    ref = GATConv(F_IN, F_OUT, heads=heads, concat=concat, **kw).to(dtype)
    ours = StructuralGATConv(F_IN, F_OUT, heads=heads, concat=concat, structural=structural,
                             **kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    randomize_bias(ref, ours)
    return ref, ours


def xw_heads(ref: GATConv, x: torch.Tensor) -> torch.Tensor:
    """X Θ_h for every head, concatenated (concat=True) or averaged (concat=False)."""
    h = x @ ref.lin.weight.t()
    if not ref.concat:
        h = h.view(x.size(0), ref.heads, ref.out_channels).mean(dim=1)
    return h


def force_lambda(conv, value: float) -> None:
    """Set a learnable λ to exactly 1.0 (or ~0) through its logit: sigmoid(±40) saturates."""
    assert conv.structural_logit is not None
    with torch.no_grad():
        conv.structural_logit.fill_(40.0 if value == 1.0 else -40.0)


# --- λ = 1 is exactly PyG ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gcn_lambda_one_equals_pyg(two_triangles, dtype):
    ref, ours = gcn_pair(1.0, dtype)
    x = features(dtype=dtype)
    torch.testing.assert_close(ours(x, two_triangles), ref(x, two_triangles), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("concat", [True, False])
def test_gat_lambda_one_equals_pyg(two_triangles, dtype, heads, concat):
    ref, ours = gat_pair(1.0, dtype, heads=heads, concat=concat)
    x = features(dtype=dtype)
    out = ours(x, two_triangles)
    assert out.shape == (7, F_OUT * heads if concat else F_OUT)
    torch.testing.assert_close(out, ref(x, two_triangles), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lambda_one_through_interpolation_equals_pyg(two_triangles, dtype):
    """A learnable λ saturated at exactly 1.0 runs the general formula, not the fast path."""
    x = features(dtype=dtype)
    ref, _ = gcn_pair(1.0, dtype)
    ours = StructuralGCNConv(F_IN, F_OUT, learn_structural=True).to(dtype)
    ours.load_state_dict(ref.state_dict(), strict=False)
    force_lambda(ours, 1.0)
    assert ours.structural == 1.0 and ours.structural_logit is not None
    torch.testing.assert_close(ours(x, two_triangles), ref(x, two_triangles), atol=1e-6, rtol=0)

    for concat in (True, False):
        ref, _ = gat_pair(1.0, dtype, heads=3, concat=concat)
        ours = StructuralGATConv(F_IN, F_OUT, heads=3, concat=concat,
                                 learn_structural=True).to(dtype)
        ours.load_state_dict(ref.state_dict(), strict=False)
        force_lambda(ours, 1.0)
        torch.testing.assert_close(ours(x, two_triangles), ref(x, two_triangles),
                                   atol=1e-6, rtol=0)


def test_gat_lambda_one_equals_pyg_with_residual_and_edge_features(two_triangles):
    e = two_triangles.size(1)
    edge_attr = torch.randn(e, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref, ours = gat_pair(1.0, heads=2, residual=True, edge_dim=2)
    x = features()
    torch.testing.assert_close(ours(x, two_triangles, edge_attr), ref(x, two_triangles, edge_attr))


# --- intermediate λ: the interpolation by hand --------------------------------------------


def dense_gcn_operator(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 as a dense float64 matrix (row i aggregates its in-neighbours)."""
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[1], edge_index[0]] = 1.0
    a = a + torch.eye(n, dtype=torch.float64)
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


@pytest.mark.parametrize("lam", [0.25, 0.7])
def test_gcn_intermediate_lambda_by_hand(path_graph, lam):
    ref, ours = gcn_pair(lam)
    x = features(n=5)  # path 0-1-2-3 and the isolated node 4
    xw = x @ ref.lin.weight.t()
    expected = (1 - lam) * xw + lam * dense_gcn_operator(path_graph, 5) @ xw + ref.bias
    out = ours(x, path_graph)
    torch.testing.assert_close(out, expected)
    # and against PyG's own layer, bias counted once
    pyg = ref(x, path_graph)
    torch.testing.assert_close(out, (1 - lam) * xw + lam * (pyg - ref.bias) + ref.bias)
    assert not torch.allclose(out, ref(x, path_graph))


@pytest.mark.parametrize("lam", [0.25, 0.7])
@pytest.mark.parametrize(("heads", "concat"), [(1, True), (3, True), (3, False)])
def test_gat_intermediate_lambda_by_hand(two_triangles, lam, heads, concat):
    ref, ours = gat_pair(lam, heads=heads, concat=concat)
    x = features()
    pyg = ref(x, two_triangles)
    expected = lam * (pyg - ref.bias) + (1 - lam) * xw_heads(ref, x) + ref.bias
    out = ours(x, two_triangles)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, pyg)


def test_gat_intermediate_lambda_with_residual(two_triangles):
    lam = 0.4
    ref, ours = gat_pair(lam, heads=2, residual=True)
    x = features()
    res = x @ ref.res.weight.t()
    expected = (lam * (ref(x, two_triangles) - ref.bias - res)
                + (1 - lam) * xw_heads(ref, x) + res + ref.bias)
    torch.testing.assert_close(ours(x, two_triangles), expected)


# --- λ = 0 ignores the graph --------------------------------------------------------------


@st.composite
def random_edges(draw, n: int = 6):
    m = draw(st.integers(0, 20))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    return torch.tensor([src, dst], dtype=torch.long).view(2, m)


@given(edge_index=random_edges())
def test_lambda_zero_output_ignores_edge_index(edge_index):
    x = features(n=6)
    empty = torch.empty(2, 0, dtype=torch.long)
    ref, gcn = gcn_pair(0.0)
    expected = x @ ref.lin.weight.t() + ref.bias
    torch.testing.assert_close(gcn(x, edge_index), expected)
    torch.testing.assert_close(gcn(x, edge_index), gcn(x, empty))
    for concat in (True, False):
        ref, gat = gat_pair(0.0, heads=2, concat=concat)
        torch.testing.assert_close(gat(x, edge_index), xw_heads(ref, x) + ref.bias)


def test_lambda_zero_fast_path_equals_general_formula(two_triangles):
    """The λ = 0 shortcut equals the interpolation code at (saturated) λ ≈ 0."""
    x = features()
    for fixed, learn in [
        (StructuralGCNConv(F_IN, F_OUT, structural=0.0),
         StructuralGCNConv(F_IN, F_OUT, learn_structural=True)),
        (StructuralGATConv(F_IN, F_OUT, heads=2, concat=False, residual=True, structural=0.0),
         StructuralGATConv(F_IN, F_OUT, heads=2, concat=False, residual=True,
                           learn_structural=True)),
    ]:
        fixed, learn = fixed.double(), learn.double()
        randomize_bias(fixed)
        learn.load_state_dict(fixed.state_dict(), strict=False)
        force_lambda(learn, 0.0)
        torch.testing.assert_close(fixed(x, two_triangles), learn(x, two_triangles))


def test_gat_lambda_zero_with_attention_weights_matches(two_triangles):
    _, gat = gat_pair(0.0, heads=2)
    x = features()
    out, (ei, alpha) = gat(x, two_triangles, return_attention_weights=True)
    torch.testing.assert_close(out, gat(x, two_triangles))
    assert alpha.shape == (ei.size(1), 2)


# --- gradients and learnable λ ------------------------------------------------------------


def assert_all_grads(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("kind", ["gcn", "gat"])
def test_every_parameter_gets_a_gradient(two_triangles, kind, learn):
    torch.manual_seed(0)
    conv = (StructuralGCNConv(F_IN, F_OUT, structural=0.5, learn_structural=learn)
            if kind == "gcn" else
            StructuralGATConv(F_IN, F_OUT, heads=2, structural=0.5, learn_structural=learn))
    x = features(dtype=torch.float32)
    conv(x, two_triangles).pow(2).sum().backward()
    assert_all_grads(conv)
    assert (conv.structural_logit is not None) == learn


def test_gat_attention_gets_no_gradient_at_lambda_zero(two_triangles):
    """λ = 0 skips attention entirely (the documented shortcut)."""
    conv = StructuralGATConv(F_IN, F_OUT, heads=2, structural=0.0)
    conv(features(dtype=torch.float32), two_triangles).sum().backward()
    assert conv.att_src.grad is None and conv.att_dst.grad is None
    assert conv.lin.weight.grad is not None


@pytest.mark.parametrize("kind", ["gcn", "gat"])
@pytest.mark.parametrize("target_lambda", [3.0, -2.0])
def test_learnable_lambda_stays_in_unit_interval(two_triangles, kind, target_lambda):
    """A loss whose optimum is λ = 3 (or -2) drives λ to the boundary, never past it."""
    if kind == "gcn":
        ref, _ = gcn_pair()
        conv = StructuralGCNConv(F_IN, F_OUT, structural=0.5, learn_structural=True).double()
    else:
        ref, _ = gat_pair(heads=2)
        conv = StructuralGATConv(F_IN, F_OUT, heads=2, structural=0.5,
                                 learn_structural=True).double()
    conv.load_state_dict(ref.state_dict(), strict=False)
    x = features()
    with torch.no_grad():
        xw = x @ ref.lin.weight.t()
        agg = ref(x, two_triangles) - ref.bias
    assert conv.structural == pytest.approx(0.5)
    target = (1 - target_lambda) * xw + target_lambda * agg
    opt = torch.optim.Adam([conv.structural_logit], lr=0.5)
    for _ in range(150):
        opt.zero_grad()
        ((conv(x, two_triangles) - conv.bias - target) ** 2).sum().backward()
        opt.step()
        assert 0.0 <= conv.structural <= 1.0
    assert conv.structural > 0.99 if target_lambda > 1 else conv.structural < 0.01


@pytest.mark.parametrize(("init", "expected"), [(0.3, 0.3), (0.0, 1e-4), (1.0, 1 - 1e-4)])
def test_learnable_lambda_initial_value_and_reset(init, expected):
    conv = StructuralGCNConv(F_IN, F_OUT, structural=init, learn_structural=True)
    assert conv.structural == pytest.approx(expected, abs=1e-7)
    with torch.no_grad():
        conv.structural_logit.fill_(3.0)
    assert conv.structural != pytest.approx(expected, abs=1e-3)
    conv.reset_parameters()
    assert conv.structural == pytest.approx(expected, abs=1e-7)
    assert isinstance(conv.structural, float)


def test_fixed_lambda_has_no_parameter():
    conv = StructuralGATConv(F_IN, F_OUT, structural=0.8)
    assert conv.structural == 0.8
    assert "structural_logit" not in dict(conv.named_parameters())


# --- inputs: sparse adjacency, cache ------------------------------------------------------


def sparse_inputs(edge_index: torch.Tensor, n: int, weight: torch.Tensor):
    """PyG's transposed convention: adj_t[i, j] != 0 for an edge j -> i."""
    out = {
        "coo": to_torch_coo_tensor(edge_index.flip(0), weight, size=(n, n)),
        "csr": to_torch_csr_tensor(edge_index.flip(0), weight, size=(n, n)),
    }
    if WITH_TORCH_SPARSE:  # pragma: no cover - torch_sparse is optional
        from torch_geometric.typing import SparseTensor

        out["SparseTensor"] = SparseTensor(row=edge_index[1], col=edge_index[0], value=weight,
                                           sparse_sizes=(n, n))
    return out


@pytest.mark.parametrize("learn", [False, True])
def test_sparse_adjacency_matches_edge_index(learn):
    # a directed graph, so that a wrong transposition would show
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 0], [1, 2, 3, 3, 4, 0, 4]])
    x = features(n=6)
    g = torch.Generator().manual_seed(2)
    weight = torch.rand(edge_index.size(1), dtype=torch.float64, generator=g) + 0.5
    ones = torch.ones_like(weight)
    torch.manual_seed(0)
    gcn = StructuralGCNConv(F_IN, F_OUT, structural=0.6, learn_structural=learn).double()
    gat = StructuralGATConv(F_IN, F_OUT, heads=2, structural=0.6,
                            learn_structural=learn).double()
    for name, adj in sparse_inputs(edge_index, 6, weight).items():
        torch.testing.assert_close(gcn(x, adj), gcn(x, edge_index, weight), msg=name)
    for name, adj in sparse_inputs(edge_index, 6, ones).items():
        torch.testing.assert_close(gat(x, adj), gat(x, edge_index), msg=name)
    wrong = to_torch_coo_tensor(edge_index, ones, size=(6, 6))  # not transposed
    assert not torch.allclose(gcn(x, wrong), gcn(x, edge_index))


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_cached_equals_uncached(two_triangles, lam):
    _, plain = gcn_pair(lam)
    _, cached = gcn_pair(lam, cached=True)
    x = features()
    first = cached(x, two_triangles)
    assert cached._cached_edge_index is not None
    torch.testing.assert_close(first, plain(x, two_triangles))
    torch.testing.assert_close(cached(x, two_triangles), plain(x, two_triangles))
    cached.reset_parameters()
    assert cached._cached_edge_index is None


# --- repr and errors ----------------------------------------------------------------------


def test_repr_shows_structural():
    assert repr(StructuralGCNConv(1433, 16, structural=0.8)) == \
        "StructuralGCNConv(1433, 16, structural=0.8)"
    assert repr(StructuralGATConv(1433, 8, heads=8, structural=0.5)) == \
        "StructuralGATConv(1433, 8, heads=8, structural=0.5)"
    assert repr(StructuralGCNConv(4, 2, structural=0.25, learn_structural=True)) == \
        "StructuralGCNConv(4, 2, structural=0.25, learn_structural=True)"


@pytest.mark.parametrize("cls", [StructuralGCNConv, StructuralGATConv])
def test_structural_out_of_range(cls):
    with pytest.raises(ValueError, match=r"structural must be in \[0, 1\]; got 1.5"):
        cls(F_IN, F_OUT, structural=1.5)


def test_structural_wrong_type():
    with pytest.raises(TypeError, match=r"structural must be a float; got str '0.5'"):
        StructuralGCNConv(F_IN, F_OUT, structural="0.5")


def test_learn_structural_wrong_type():
    with pytest.raises(TypeError, match=r"learn_structural must be a bool; got int 1"):
        StructuralGCNConv(F_IN, F_OUT, learn_structural=1)


def test_gat_bipartite_in_channels_refused():
    with pytest.raises(ValueError, match=r"homogeneous graphs only: in_channels must be an int; "
                                         r"got \(4, 5\)"):
        StructuralGATConv((4, 5), F_OUT)


def test_gat_bipartite_x_refused(two_triangles):
    x = features()
    conv = StructuralGATConv(F_IN, F_OUT).double()
    with pytest.raises(ValueError, match=r"x must be a single tensor; got tuple"):
        conv((x, x), two_triangles)


def test_gat_non_square_size_refused(two_triangles):
    conv = StructuralGATConv(F_IN, F_OUT).double()
    with pytest.raises(ValueError, match=r"size must be square; got \(7, 5\)"):
        conv(features(), two_triangles, size=(7, 5))


def test_decomposed_layers_refused(two_triangles):
    conv = StructuralGCNConv(F_IN, F_OUT, structural=0.5, decomposed_layers=2).double()
    with pytest.raises(ValueError, match=r"does not support decomposed_layers > 1; got 2"):
        conv(features(), two_triangles)


def test_cached_gcn_shows_no_sparse_beta_or_invariant_notes():
    """torch says once per process that CSR support is in beta and that invariant checks
    are implicitly off when a CSR tensor is first made; the cached GCN path (PyG's
    ``to_torch_csr_tensor``) keeps both quiet. A fresh process: the notes come once."""
    code = ("import warnings, torch\n"
            "warnings.simplefilter('always')\n"
            "from graphls import GCN\n"
            "x = torch.rand(5, 3)\n"
            "ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])\n"
            "GCN(3, 4, 2, 2, cached=True)(x, ei).sum().backward()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "in beta" not in out.stderr and "implicitly disabled" not in out.stderr, out.stderr
