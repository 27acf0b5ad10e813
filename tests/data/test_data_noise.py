"""graphls.data.noise: label noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from graphls.data import add_label_noise


def _labels(n: int = 200, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[::2] = True
    return y, mask


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
def test_label_noise_flips_exactly_inside_mask(kind):
    y, mask = _labels()
    before = y.clone()
    noisy = add_label_noise(y, mask, 0.3, kind=kind, seed=0, num_classes=5)
    assert torch.equal(y, before)  # not in place
    changed = noisy != y
    assert int(changed.sum()) == 30  # round(0.3 * 100)
    assert not bool((changed & ~mask).any())
    assert int(noisy.min()) >= 0 and int(noisy.max()) < 5
    if kind == "pair":
        torch.testing.assert_close(noisy[changed], (y[changed] + 1) % 5)


def test_symmetric_noise_reaches_every_other_class():
    y = torch.zeros(400, dtype=torch.long)
    mask = torch.ones(400, dtype=torch.bool)
    noisy = add_label_noise(y, mask, 0.9, seed=1, num_classes=4)
    assert int((noisy == 0).sum()) == 40
    counts = torch.bincount(noisy[noisy != 0], minlength=4)[1:]
    assert bool((counts > 90).all())  # about 120 each of classes 1, 2, 3


def test_label_noise_is_seeded():
    y, mask = _labels()
    rng = torch.random.get_rng_state()
    a = add_label_noise(y, mask, 0.2, seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.equal(a, add_label_noise(y, mask, 0.2, seed=7))
    assert not torch.equal(a, add_label_noise(y, mask, 0.2, seed=8))
    assert torch.equal(add_label_noise(y, mask, 0.0, seed=7), y)


@given(n=st.integers(1, 60), k=st.integers(2, 6), rate=st.floats(0, 0.99),
       kind=st.sampled_from(["symmetric", "pair"]), seed=st.integers(0, 2**31))
def test_label_noise_properties(n, k, rate, kind, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    mask = torch.rand(n, generator=g) < 0.5
    noisy = add_label_noise(y, mask, rate, kind=kind, seed=seed, num_classes=k)
    changed = noisy != y
    assert int(changed.sum()) == int(np.floor(rate * int(mask.sum()) + 0.5))
    assert not bool((changed & ~mask).any())


@pytest.mark.parametrize("rate", [1.0, -0.1])
def test_label_noise_rate_range(rate):
    y, mask = _labels()
    with pytest.raises(ValueError, match=rf"rate must be in \[0, 1\); got {rate}"):
        add_label_noise(y, mask, rate)


def test_label_noise_kind():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"kind must be one of 'symmetric', 'pair'; got 'flip'"):
        add_label_noise(y, mask, 0.1, kind="flip")


def test_label_noise_mask_dtype():
    y, mask = _labels()
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor; got dtype torch.int64"):
        add_label_noise(y, mask.long(), 0.1)


def test_label_noise_mask_shape():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"mask must be 1-D \(one split\); got shape \(100, 2\)"):
        add_label_noise(y, mask.view(100, 2), 0.1)


def test_label_noise_mask_length():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"y and mask must have the same number of rows"):
        add_label_noise(y, mask[:10], 0.1)


def test_label_noise_needs_two_classes():
    y = torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match=r"num_classes must be >= 2 to flip labels; got 1"):
        add_label_noise(y, torch.ones(10, dtype=torch.bool), 0.5)


def test_label_noise_labels_in_range():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 3\); got 4"):
        add_label_noise(y, mask, 0.1, num_classes=3)
