"""GCN/GAT models: PyG's example architectures at defaults, per-layer λ, validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.utils import to_torch_csr_tensor

from graphls.models import GAT, GCN, dropout

N, F_IN, HIDDEN, CLASSES = 7, 5, 4, 3


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(N, F_IN, generator=torch.Generator().manual_seed(0))


class PyGExampleGCN(torch.nn.Module):
    """PyG ``examples/gcn.py`` (without GDC); ``drop`` is its ``F.dropout``."""

    drop = staticmethod(F.dropout)

    def __init__(self, in_channels, hidden_channels, out_channels):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels)
        self.conv2 = GCNConv(hidden_channels, out_channels)

    def forward(self, x, edge_index, edge_weight=None):
        x = self.drop(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index, edge_weight).relu()
        x = self.drop(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index, edge_weight)


class PyGExampleGAT(torch.nn.Module):
    """PyG ``examples/gat.py``; ``drop`` is its feature ``F.dropout``."""

    drop = staticmethod(F.dropout)

    def __init__(self, in_channels, hidden_channels, out_channels, heads):
        super().__init__()
        self.conv1 = GATConv(in_channels, hidden_channels, heads, dropout=0.6)
        self.conv2 = GATConv(hidden_channels * heads, out_channels, heads=1, concat=False,
                             dropout=0.6)

    def forward(self, x, edge_index):
        x = self.drop(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = self.drop(x, p=0.6, training=self.training)
        return self.conv2(x, edge_index)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def copy_example_weights(ref: torch.nn.Module, ours: torch.nn.Module) -> None:
    state = {k.replace("conv1.", "convs.0.").replace("conv2.", "convs.1."): v
             for k, v in ref.state_dict().items()}
    ours.load_state_dict(state)  # strict: the parameter names and shapes match PyG's
    with torch.no_grad():  # non-zero biases, so a misplaced bias would show
        for i, conv in enumerate(ours.convs):
            conv.bias.normal_()
            getattr(ref, f"conv{i + 1}").bias.copy_(conv.bias)


def same_dropout_run(model: torch.nn.Module, *args) -> torch.Tensor:
    """One training-mode pass from a fixed seed.

    graphls draws feature-dropout masks as ``torch.rand(shape) >= p`` (3x cheaper than
    ``F.dropout``'s ``bernoulli_`` on CPU, same distribution); the reference is given the
    same draw, so equal outputs mean dropout, convolutions and activations come in PyG's
    order (GAT's attention dropout is PyG's own in both).
    """
    if isinstance(model, (PyGExampleGCN, PyGExampleGAT)):
        model.drop = dropout
    torch.manual_seed(123)
    return model(*args)


# --- defaults are PyG's examples ----------------------------------------------------------


def test_gcn_defaults_are_pyg_example(x, two_triangles):
    ref, ours = PyGExampleGCN(F_IN, HIDDEN, CLASSES), GCN(F_IN, HIDDEN, 2, CLASSES, dropout=0.5)
    assert n_params(ours) == n_params(ref) == F_IN * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES
    copy_example_weights(ref, ours)
    ref.eval()
    ours.eval()
    torch.testing.assert_close(ours(x, two_triangles), ref(x, two_triangles), atol=1e-6, rtol=0)
    # training mode: same dropout calls in the same order give the same output
    ref.train()
    ours.train()
    torch.testing.assert_close(same_dropout_run(ours, x, two_triangles),
                               same_dropout_run(ref, x, two_triangles), atol=1e-6, rtol=0)


def test_gat_defaults_are_pyg_example(x, two_triangles):
    ref = PyGExampleGAT(F_IN, HIDDEN, CLASSES, heads=8)
    ours = GAT(F_IN, HIDDEN, 2, CLASSES, dropout=0.6)
    assert n_params(ours) == n_params(ref)
    assert [(c.heads, c.concat, c.dropout) for c in ours.convs] == [(8, True, 0.6),
                                                                    (1, False, 0.6)]
    copy_example_weights(ref, ours)
    ref.eval()
    ours.eval()
    torch.testing.assert_close(ours(x, two_triangles), ref(x, two_triangles), atol=1e-6, rtol=0)
    # training mode: feature and attention dropout in PyG's order
    ref.train()
    ours.train()
    torch.testing.assert_close(same_dropout_run(ours, x, two_triangles),
                               same_dropout_run(ref, x, two_triangles), atol=1e-6, rtol=0)


def test_deeper_gcn_structure_and_batch_norm(x, two_triangles):
    m = GCN(F_IN, HIDDEN, 3, CLASSES, batch_norm=True, dropout=0.5)
    dims = [(c.in_channels, c.out_channels) for c in m.convs]
    assert dims == [(F_IN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, CLASSES)]
    assert len(m.norms) == 2
    plain = GCN(F_IN, HIDDEN, 3, CLASSES, dropout=0.5)
    assert plain.norms is None
    assert n_params(m) == n_params(plain) + 2 * 2 * HIDDEN
    assert m(x, two_triangles).shape == (N, CLASSES)


def test_single_layer_models(x, two_triangles):
    gcn = GCN(F_IN, HIDDEN, 1, CLASSES, dropout=0.5)
    gat = GAT(F_IN, HIDDEN, 1, CLASSES, output_heads=2, dropout=0.6)
    assert [(c.in_channels, c.out_channels) for c in gcn.convs] == [(F_IN, CLASSES)]
    assert [(c.heads, c.concat) for c in gat.convs] == [(2, False)]
    assert gcn(x, two_triangles).shape == gat(x, two_triangles).shape == (N, CLASSES)


def test_gat_deeper_structure():
    m = GAT(F_IN, HIDDEN, 3, CLASSES, heads=2, output_heads=4, dropout=0.6)
    shapes = [(c.in_channels, c.out_channels, c.heads, c.concat) for c in m.convs]
    assert shapes == [(F_IN, HIDDEN, 2, True), (2 * HIDDEN, HIDDEN, 2, True),
                      (2 * HIDDEN, CLASSES, 4, False)]


# --- determinism and seeding --------------------------------------------------------------


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_eval_is_deterministic_and_train_is_not(cls, x, two_triangles):
    torch.manual_seed(0)
    m = cls(F_IN, HIDDEN, 2, CLASSES, dropout=0.5).eval()
    torch.testing.assert_close(m(x, two_triangles), m(x, two_triangles), atol=0, rtol=0)
    m.train()
    assert not torch.allclose(m(x, two_triangles), m(x, two_triangles))


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_same_seed_same_init_and_output(cls, x, two_triangles):
    models = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        models.append(cls(F_IN, HIDDEN, 2, CLASSES, structural=0.5).eval())
    a, b, c = models
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, atol=0, rtol=0, msg=k)
    torch.testing.assert_close(a(x, two_triangles), b(x, two_triangles), atol=0, rtol=0)
    assert not torch.allclose(a(x, two_triangles), c(x, two_triangles))


# --- structural per layer -----------------------------------------------------------------


def test_per_layer_structural(x, two_triangles):
    m = GCN(F_IN, HIDDEN, 2, CLASSES, structural=[0.0, 0.75], dropout=0.5)
    assert m.structural_values == [0.0, 0.75]
    assert [c.structural for c in m.convs] == [0.0, 0.75]
    g = GAT(F_IN, HIDDEN, 3, CLASSES, structural=(1.0, 0.5, 0.25), dropout=0.6)
    assert g.structural_values == [1.0, 0.5, 0.25]


def test_structural_zero_everywhere_is_an_mlp(x, two_triangles):
    m = GCN(F_IN, HIDDEN, 2, CLASSES, structural=0.0, dropout=0.5).eval()
    other = torch.tensor([[0, 1, 4], [5, 6, 2]])
    torch.testing.assert_close(m(x, two_triangles), m(x, other))
    mlp = torch.nn.functional.linear
    h = mlp(x, m.convs[0].lin.weight, m.convs[0].bias).relu()
    torch.testing.assert_close(m(x, two_triangles), mlp(h, m.convs[1].lin.weight, m.convs[1].bias))


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_learnable_structural_values_move(cls, x, two_triangles):
    torch.manual_seed(0)
    m = cls(F_IN, HIDDEN, 2, CLASSES, structural=[0.5, 0.25], learn_structural=True)
    assert m.structural_values == pytest.approx([0.5, 0.25])
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    F.cross_entropy(m(x, two_triangles), torch.arange(N) % CLASSES).backward()
    opt.step()
    assert m.structural_values != pytest.approx([0.5, 0.25], abs=1e-6)
    assert all(0.0 <= v <= 1.0 for v in m.structural_values)
    m.reset_parameters()
    assert m.structural_values == pytest.approx([0.5, 0.25])


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_every_parameter_gets_a_gradient(cls, x, two_triangles):
    torch.manual_seed(0)
    kw = {"batch_norm": True} if cls is GCN else {"heads": 2}
    m = cls(F_IN, HIDDEN, 3, CLASSES, dropout=0.5, structural=0.5, learn_structural=True, **kw)
    F.cross_entropy(m(x, two_triangles), torch.arange(N) % CLASSES).backward()
    names = [n for n, _ in m.named_parameters()]
    assert sum("structural_logit" in n for n in names) == 3
    for name, p in m.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


def test_reset_parameters_reinitialises(x, two_triangles):
    m = GCN(F_IN, HIDDEN, 3, CLASSES, batch_norm=True, dropout=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(0.123)
    m.reset_parameters()
    w = m.convs[0].lin.weight
    assert not torch.allclose(w, torch.full_like(w, 0.123))
    torch.testing.assert_close(m.norms[0].weight, torch.ones(HIDDEN))
    torch.testing.assert_close(m.convs[0].bias, torch.zeros(HIDDEN))


# --- inputs -------------------------------------------------------------------------------


def test_sparse_adjacency_and_cache(x, two_triangles):
    adj_t = to_torch_csr_tensor(two_triangles.flip(0), size=(N, N))
    torch.manual_seed(0)
    gcn = GCN(F_IN, HIDDEN, 2, CLASSES, structural=0.5, dropout=0.5).eval()
    torch.manual_seed(0)
    cached = GCN(F_IN, HIDDEN, 2, CLASSES, structural=0.5, cached=True, dropout=0.5).eval()
    expected = gcn(x, two_triangles)
    torch.testing.assert_close(gcn(x, adj_t), expected)
    torch.testing.assert_close(cached(x, two_triangles), expected)
    torch.testing.assert_close(cached(x, two_triangles), expected)
    assert all(c._cached_edge_index is not None for c in cached.convs)
    gat = GAT(F_IN, HIDDEN, 2, CLASSES, heads=2, structural=0.5, dropout=0.6).eval()
    torch.testing.assert_close(gat(x, adj_t), gat(x, two_triangles))


def test_edge_weight_is_used(x, two_triangles):
    m = GCN(F_IN, HIDDEN, 2, CLASSES, structural=0.5, dropout=0.5).eval()
    w = torch.linspace(0.1, 2.0, two_triangles.size(1))
    assert not torch.allclose(m(x, two_triangles, w), m(x, two_triangles))


# --- repr and errors ----------------------------------------------------------------------


def test_repr_shows_layers_and_structural():
    r = repr(GCN(1433, 16, 2, 7, structural=0.8, dropout=0.5))
    assert "structural=0.8" in r and "StructuralGCNConv(1433, 16, structural=0.8)" in r
    r = repr(GAT(1433, 8, 2, 7, structural=[0.5, 1.0], dropout=0.6))
    assert "structural=[0.5, 1.0]" in r
    assert "StructuralGATConv(64, 7, heads=1, structural=1.0)" in r


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_structural_out_of_range(cls):
    with pytest.raises(ValueError, match=r"structural must be in \[0, 1\]; got 1.5"):
        cls(F_IN, HIDDEN, 2, CLASSES, structural=1.5)


def test_structural_layer_value_out_of_range():
    with pytest.raises(ValueError, match=r"structural\[1\] must be in \[0, 1\]; got -0.1"):
        GCN(F_IN, HIDDEN, 2, CLASSES, structural=[0.5, -0.1], dropout=0.5)


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_structural_wrong_length(cls):
    with pytest.raises(ValueError, match=r"structural must have one value per layer "
                                         r"\(num_layers=2\); got 3 values"):
        cls(F_IN, HIDDEN, 2, CLASSES, structural=[1.0, 1.0, 1.0])


def test_structural_string_refused():
    with pytest.raises(TypeError, match=r"structural must be a float; got str '0.5'"):
        GCN(F_IN, HIDDEN, 2, CLASSES, structural="0.5", dropout=0.5)


@pytest.mark.parametrize(("cls", "kw", "match"), [
    (GCN, {"num_layers": 0}, r"num_layers must be an integer >= 1; got 0"),
    (GAT, {"num_layers": 0}, r"num_layers must be an integer >= 1; got 0"),
    (GCN, {"hidden_channels": 0}, r"hidden_channels must be an integer >= 1; got 0"),
    (GAT, {"hidden_channels": 0}, r"hidden_channels must be an integer >= 1; got 0"),
    (GCN, {"out_channels": 0}, r"out_channels must be an integer >= 1; got 0"),
    (GCN, {"in_channels": 0}, r"in_channels must be an integer >= 1; got 0"),
    (GCN, {"dropout": 1.0}, r"dropout must be in \[0, 1\); got 1.0"),
    (GAT, {"dropout": -0.1}, r"dropout must be in \[0, 1\); got -0.1"),
    (GAT, {"heads": 0}, r"heads must be an integer >= 1; got 0"),
    (GAT, {"output_heads": 0}, r"output_heads must be an integer >= 1; got 0"),
])
def test_bad_hyperparameter_values(cls, kw, match):
    args = {"in_channels": F_IN, "hidden_channels": HIDDEN, "num_layers": 2,
            "out_channels": CLASSES, **kw}
    with pytest.raises(ValueError, match=match):
        cls(**args)


@pytest.mark.parametrize(("cls", "kw", "match"), [
    (GCN, {"learn_structural": 1}, r"learn_structural must be a bool; got int 1"),
    (GAT, {"learn_structural": "yes"}, r"learn_structural must be a bool; got str 'yes'"),
    (GCN, {"cached": None}, r"cached must be a bool; got NoneType None"),
    (GCN, {"batch_norm": 0}, r"batch_norm must be a bool; got int 0"),
    (GCN, {"num_layers": 2.0}, r"num_layers must be an integer; got float 2.0"),
])
def test_bad_hyperparameter_types(cls, kw, match):
    with pytest.raises(TypeError, match=match):
        cls(F_IN, HIDDEN, **{"num_layers": 2, "out_channels": CLASSES, **kw})


@pytest.mark.parametrize("cls", [GCN, GAT])
def test_arguments_follow_pyg_basic_gnn_order(cls, x, two_triangles):
    """PyG's ``GCN(in_channels, hidden_channels, num_layers, out_channels=None,
    dropout=0.0)``: a PyG user's ``GCN(1433, 16, 2, 7)`` is two layers with 7 outputs."""
    from torch_geometric.nn.models import GCN as PyGGCN

    ours, theirs = cls(F_IN, HIDDEN, 2, CLASSES), PyGGCN(F_IN, HIDDEN, 2, CLASSES)
    assert len(ours.convs) == len(theirs.convs) == 2
    assert ours(x, two_triangles).shape == theirs(x, two_triangles).shape == (N, CLASSES)
    assert ours.dropout == theirs.dropout.p == 0.0
    assert cls(F_IN, HIDDEN, 3).out_channels == HIDDEN == PyGGCN(F_IN, HIDDEN, 3).out_channels
    with pytest.raises(TypeError, match="positional"):
        cls(F_IN, HIDDEN, 2, CLASSES, 0.5, 0.8)  # structural is keyword-only


def test_lazy_in_channels(x, two_triangles):
    m = GCN(-1, HIDDEN, 2, CLASSES, dropout=0.5)
    assert m(x, two_triangles).shape == (N, CLASSES)
    assert m.convs[0].lin.weight.shape == (HIDDEN, F_IN)
