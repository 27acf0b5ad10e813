"""Temperature scaling: recovers a known temperature, is the NLL argmin, keeps the argmax."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import graphls.calibration
from graphls.calibration import TemperatureScaling
from graphls.metrics import expected_calibration_error


def sample(n: int, k: int, temperature: float, seed: int, scale: float = 3.0):
    """Logits z and labels drawn from softmax(z / temperature): the true T is ``temperature``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    y = torch.multinomial((z / temperature).softmax(-1), 1, generator=g).view(-1)
    return z, y


def numpy_nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    s = z / temperature
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def test_recovers_a_known_temperature():
    z, y = sample(20_000, 5, temperature=2.5, seed=0)
    scaler = TemperatureScaling().fit(z, y)
    assert scaler.temperature == pytest.approx(2.5, rel=0.05)


def test_fitted_temperature_is_the_nll_argmin_of_a_grid_search():
    z, y = sample(2_000, 4, temperature=0.6, seed=1)
    scaler = TemperatureScaling().fit(z, y)
    zn, yn = z.numpy(), y.numpy()
    grid = np.exp(np.linspace(np.log(0.1), np.log(10.0), 4001))
    best = grid[np.argmin([numpy_nll(zn, yn, t) for t in grid])]
    assert scaler.temperature == pytest.approx(best, rel=2e-3)
    # A local minimum: nudging T either way does not lower the NLL.
    t = scaler.temperature
    assert numpy_nll(zn, yn, t) <= numpy_nll(zn, yn, t * 1.001)
    assert numpy_nll(zn, yn, t) <= numpy_nll(zn, yn, t / 1.001)


def test_same_result_from_any_starting_temperature():
    z, y = sample(1_000, 3, temperature=1.7, seed=2)
    a = TemperatureScaling().fit(z, y).temperature
    b = TemperatureScaling(temperature=0.2).fit(z, y).temperature
    c = TemperatureScaling(temperature=20.0).fit(z, y).temperature
    assert b == pytest.approx(a, rel=1e-5)
    assert c == pytest.approx(a, rel=1e-5)


def test_lowers_nll_and_ece_of_over_confident_logits():
    z, y = sample(3_000, 5, temperature=1.0, seed=3)
    over = 4.0 * z  # over-confident by a factor 4
    scaler = TemperatureScaling().fit(over, y)
    assert scaler.temperature == pytest.approx(4.0, rel=0.1)
    before, after = F.cross_entropy(over, y), F.cross_entropy(scaler(over), y)
    assert after < before - 0.1
    ece_before = expected_calibration_error(over.softmax(-1), y)
    ece_after = expected_calibration_error(scaler.predict_proba(over), y)
    assert ece_after < ece_before / 2


def test_fit_on_val_then_apply_to_test():
    z, y = sample(6_000, 4, temperature=3.0, seed=4)
    val, test = slice(0, 2_000), slice(2_000, None)
    scaler = TemperatureScaling().fit(z[val], y[val])
    t = scaler.temperature
    # Test labels never enter: changing them changes nothing about the scaler.
    y_scrambled = y.clone()
    y_scrambled[test] = 0
    assert TemperatureScaling().fit(z[val], y_scrambled[val]).temperature == t
    out = scaler(z[test])
    torch.testing.assert_close(out, z[test] / t)
    assert F.cross_entropy(out, y[test]) < F.cross_entropy(z[test], y[test]) - 0.05
    assert 2.0 < t < 4.0  # softens, towards the true 3 (2000 validation nodes: about 2.65)


@given(st.integers(1, 40), st.integers(2, 6), st.integers(0, 2**31 - 1),
       st.floats(0.01, 100.0))
def test_never_changes_the_argmax(n, k, seed, temperature):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 5
    scaler = TemperatureScaling(temperature=temperature)
    assert torch.equal(scaler(z).argmax(-1), z.argmax(-1))
    assert torch.equal(scaler.predict_proba(z).argmax(-1), z.argmax(-1))


def test_fit_keeps_argmax_and_accuracy():
    z, y = sample(500, 6, temperature=0.5, seed=5)
    scaler = TemperatureScaling().fit(z, y)
    assert scaler.temperature != pytest.approx(1.0, rel=0.05)
    assert torch.equal(scaler(z).argmax(-1), z.argmax(-1))


def test_forward_predict_proba_dtype_and_gradient():
    z, _ = sample(10, 3, temperature=1.0, seed=6)
    scaler = TemperatureScaling(temperature=2.0)
    out32 = scaler(z.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, z.float() / 2.0)
    probs = scaler.predict_proba(z)
    torch.testing.assert_close(probs, (z / 2.0).softmax(-1))
    torch.testing.assert_close(probs.sum(-1), torch.ones(10, dtype=torch.float64))
    # An nn.Module: the temperature is a parameter that gets a gradient.
    scaler(z).sum().backward()
    assert scaler.log_temperature.grad is not None
    assert [n for n, _ in scaler.named_parameters()] == ["log_temperature"]
    assert "temperature=2" in repr(scaler)


def test_fit_works_on_float32_logits_that_require_grad():
    z, y = sample(2_000, 4, temperature=2.0, seed=7)
    z32 = z.float().requires_grad_(True)
    t32 = TemperatureScaling().fit(z32, y).temperature
    assert z32.grad is None  # fit works on a detached copy
    assert t32 == pytest.approx(TemperatureScaling().fit(z, y).temperature, rel=1e-4)


def test_non_finite_logits_fall_back_to_one_with_a_warning():
    z, y = sample(50, 3, temperature=1.0, seed=8)
    z[3, 1] = float("nan")
    with pytest.warns(RuntimeWarning, match=r"non-finite result .*; using T = 1$"):
        scaler = TemperatureScaling(temperature=3.0).fit(z, y)
    assert scaler.temperature == 1.0


# ---------------------------------------------------------------------------
# bounds and fallbacks
# ---------------------------------------------------------------------------

UNBOUNDED = {"min_temperature": 1e-300, "max_temperature": 1e300}


def near_constant(seed: int = 1):
    """Logits of scale 1e-3 and labels independent of them: the NLL falls as T -> infinity."""
    g = torch.Generator().manual_seed(seed)
    z = 1e-3 * torch.randn(100, 3, generator=g, dtype=torch.float64)
    return z, torch.randint(0, 3, (100,), generator=g)


def separated():
    """Small logits that order every node right: the NLL falls as T -> 0."""
    z = 1e-3 * torch.tensor([[1, 0], [0, 1], [2, 0], [0, 3], [1, -1]], dtype=torch.float64)
    return z, torch.tensor([0, 1, 0, 1, 0])


def test_default_bounds_are_class_attributes():
    assert (TemperatureScaling.MIN_TEMPERATURE, TemperatureScaling.MAX_TEMPERATURE) == (0.01, 100)
    scaler = TemperatureScaling()
    assert (scaler.min_temperature, scaler.max_temperature) == (0.01, 100.0)
    custom = TemperatureScaling(min_temperature=0.5, max_temperature=3)
    assert (custom.min_temperature, custom.max_temperature) == (0.5, 3.0)


def test_near_constant_logits_hit_the_upper_bound_and_fall_back_to_one():
    z, y = near_constant()
    assert TemperatureScaling(**UNBOUNDED).fit(z, y).temperature > 500  # unbounded: 914
    with pytest.warns(UserWarning, match=r"^temperature scaling: the fitted temperature \S+ "
                                         r"reached the bound max_temperature=100 \(the logits "
                                         r"barely inform the labels, so the NLL keeps falling as "
                                         r"T grows\); using T = 1$"):
        scaler = TemperatureScaling().fit(z, y)
    assert scaler.temperature == 1.0


def test_separated_validation_nodes_hit_the_lower_bound_and_fall_back_to_one():
    z, y = separated()
    assert TemperatureScaling(**UNBOUNDED).fit(z, y).temperature < 1e-6
    with pytest.warns(UserWarning, match=r"^temperature scaling: the fitted temperature \S+ "
                                         r"reached the bound min_temperature=0\.01 \(the "
                                         r"validation nodes are nearly perfectly separated, so the "
                                         r"NLL keeps falling as T shrinks\); using T = 1$"):
        scaler = TemperatureScaling().fit(z, y)
    assert scaler.temperature == 1.0


def test_a_fit_that_does_not_lower_the_nll_falls_back_to_one():
    # constant rows: the NLL is log 3 at every T, so the fit stays where it starts (T = 3)
    z = torch.arange(10, dtype=torch.float64).view(-1, 1).expand(10, 3)
    y = torch.arange(10) % 3
    with pytest.warns(UserWarning, match=r"^temperature scaling: the fitted temperature 3 does not "
                                         r"lower the validation NLL \(1\.09861\) below that of "
                                         r"T = 1 \(1\.09861\); using T = 1$"):
        scaler = TemperatureScaling(temperature=3.0).fit(z, y)
    assert scaler.temperature == 1.0


def test_a_poor_start_that_one_iteration_cannot_mend_falls_back_to_one():
    z, y = sample(500, 4, temperature=1.0, seed=10)
    with pytest.warns(UserWarning, match=r"fitted temperature \S+ does not lower the "
                                         r"validation NLL"):
        scaler = TemperatureScaling(temperature=50.0).fit(z, y, max_iter=1)
    assert scaler.temperature == 1.0


def test_custom_bounds_are_honoured():
    z, y = sample(5_000, 5, temperature=2.5, seed=0)
    with pytest.warns(UserWarning, match=r"reached the bound max_temperature=2 "):
        assert TemperatureScaling(max_temperature=2.0).fit(z, y).temperature == 1.0
    z, y = near_constant()
    wide = TemperatureScaling(max_temperature=1e4).fit(z, y)  # 914 is inside: kept
    assert wide.temperature == pytest.approx(914.1, rel=1e-4)
    # a start outside the bounds is clipped into them first
    assert TemperatureScaling(temperature=1e6).fit(*sample(500, 3, 2.0, seed=11)).temperature \
        == pytest.approx(TemperatureScaling().fit(*sample(500, 3, 2.0, seed=11)).temperature,
                         rel=1e-5)


@given(st.integers(0, 10_000), st.floats(0.2, 5.0), st.integers(2, 6))
def test_bounds_leave_ordinary_fits_unchanged_and_silent(seed, temperature, k):
    z, y = sample(300, k, temperature=temperature, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bounded = TemperatureScaling().fit(z, y).temperature
    assert bounded == TemperatureScaling(**UNBOUNDED).fit(z, y).temperature
    assert 0.01 < bounded < 100


def test_docstring_examples_run():
    result = doctest.testmod(graphls.calibration)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# bad input: one test per message
# ---------------------------------------------------------------------------


def test_nonpositive_min_temperature_rejected():
    with pytest.raises(ValueError, match=r"^min_temperature must be a finite number > 0; got 0$"):
        TemperatureScaling(min_temperature=0)


def test_min_temperature_type_rejected():
    with pytest.raises(TypeError, match=r"^min_temperature must be a float; got str '0\.1'$"):
        TemperatureScaling(min_temperature="0.1")


def test_bounds_out_of_order_rejected():
    with pytest.raises(ValueError, match=r"^max_temperature must be > min_temperature \(1\); "
                                         r"got 0\.5$"):
        TemperatureScaling(min_temperature=1.0, max_temperature=0.5)



def test_nonpositive_temperature_rejected():
    with pytest.raises(ValueError, match=r"^temperature must be a finite number > 0; got 0$"):
        TemperatureScaling(temperature=0)


def test_temperature_type_rejected():
    with pytest.raises(TypeError, match=r"^temperature must be a float; got str '2'$"):
        TemperatureScaling(temperature="2")


def test_max_iter_zero_rejected():
    z, y = sample(5, 3, temperature=1.0, seed=9)
    with pytest.raises(ValueError, match=r"^max_iter must be an integer >= 1; got 0$"):
        TemperatureScaling().fit(z, y, max_iter=0)


def test_fit_labels_out_of_range_rejected():
    with pytest.raises(ValueError, match=r"^y must hold class indices in \[0, 3\); got -1$"):
        TemperatureScaling().fit(torch.zeros(2, 3), torch.tensor([0, -1]))


def test_fit_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"^logits and y must have the same number of rows; "
                                         r"got \(2, 3\) and \(1,\)$"):
        TemperatureScaling().fit(torch.zeros(2, 3), torch.tensor([0]))


def test_fit_ogb_labels_rejected_with_hint():
    with pytest.raises(ValueError, match=r"OGB labels: use y\.view\(-1\)$"):
        TemperatureScaling().fit(torch.zeros(2, 3), torch.tensor([[0], [1]]))


def test_fit_empty_rejected():
    with pytest.raises(ValueError,
                       match=r"^logits must have at least one row; got shape \(0, 3\)$"):
        TemperatureScaling().fit(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


def test_forward_rejects_1d_logits():
    with pytest.raises(ValueError, match=r"^logits must be 2-D \(num_nodes, num_classes\); "
                                         r"got shape \(3,\)$"):
        TemperatureScaling()(torch.zeros(3))
