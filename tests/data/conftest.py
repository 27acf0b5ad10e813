"""Fixtures of the graphls.data tests: the read-only reference splits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_reference_splits_dir() -> Path | None:
    """``reference-splits`` beside ``$GRAPHLS_SHARED_DATASETS``, else ``../shared``'s."""
    env = os.environ.get("GRAPHLS_SHARED_DATASETS")
    candidates = [Path(env).parent / "reference-splits"] if env else []
    candidates += [REPO.parent / "shared" / "reference-splits",
                   REPO / "shared" / "reference-splits"]
    for c in candidates:
        if (c / "bernnet-Cora.npz").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def reference_splits() -> Path:
    """The folder of published splits (read only, never written: no copy needed).

    In CI (``CI`` set) a missing folder is an error, so the reference tests cannot skip silently.
    """
    src = shared_reference_splits_dir()
    if src is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/reference-splits not found; CI must run the reference tests")
        pytest.skip("../shared/reference-splits not found")
    return src
