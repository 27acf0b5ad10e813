"""graphls.tuning.space: the joint and full spaces, TOML overrides and their errors."""

from __future__ import annotations

import pytest

from graphls.tuning import search_space


def test_spaces_name_the_two_knobs_and_grow_as_documented(tmp_path):
    joint = search_space("joint")
    assert list(joint) == ["epsilon", "structural"]
    assert (joint["epsilon"].low, joint["epsilon"].high) == (0.0, 0.5)
    assert (joint["structural"].low, joint["structural"].high) == (0.0, 1.0)
    full = search_space("full", prior="neighbors")
    assert list(full) == ["epsilon", "structural", "lr", "weight_decay", "dropout", "hidden",
                          "prior_weight"]
    assert full["lr"].log and (full["lr"].low, full["lr"].high) == (1e-3, 1e-1)
    assert full["hidden"].choices == (8, 16, 32, 64)
    toml = tmp_path / "space.toml"
    toml.write_text("[epsilon]\nhigh = 0.3\n[lr]\nlow = 0.005\nhigh = 0.05\nlog = true\n"
                    "[structural]\ngrid = [0.0, 1.0]\n")
    over = search_space("joint", space_file=toml)
    assert list(over) == ["epsilon", "structural", "lr"]
    assert over["epsilon"].high == 0.3 and over["lr"].low == 0.005
    assert over["structural"].grid_values() == [0.0, 1.0]
    assert over["epsilon"].grid_values() == pytest.approx([0, 0.06, 0.12, 0.18, 0.24, 0.3])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[epsilon]\nhigh = 1.5\n", r"epsilon.high must be in \[0, 1\]; got 1.5"),
        ("[epsilon]\nlow = 0.4\nhigh = 0.2\n", "epsilon.low must be <= epsilon.high"),
        ("[lr]\nlow = 0\nhigh = 0.1\nlog = true\n", r"lr.low must be in \[0, inf\)|lr.low must"),
        ("[momentum]\nlow = 0\n", "parameter 'momentum' is unknown; known: epsilon"),
        ("[epsilon]\nmax = 0.3\n", r"epsilon has unknown keys \['max'\]"),
        ("[hidden]\nchoices = [16, 0]\n", "hidden.choices must be a non-empty list"),
        ("[epsilon]\nhigh = 0.3\ngrid = [0.9]\n", "epsilon.grid values must lie in the range"),
        ("[epsilon\n", "is not valid TOML"),
    ],
)
def test_bad_space_files_are_one_clear_error(tmp_path, text, match):
    toml = tmp_path / "space.toml"
    toml.write_text(text)
    with pytest.raises(ValueError, match=match):
        search_space("joint", space_file=toml)


def test_missing_space_file():
    with pytest.raises(FileNotFoundError, match=r"space file 'nope\.toml' does not exist"):
        search_space("joint", space_file="nope.toml")


def test_posterior_prior_widens_epsilon_and_can_search_rounds():
    specs = search_space("joint", "posterior", pseudo_label_rounds=2)
    assert (specs["epsilon"].low, specs["epsilon"].high) == (0.0, 1.0)  # PosteL's α is 0.8
    assert "prior_weight" in specs and specs["pseudo_label_rounds"].choices == (0, 1, 2)
    assert "pseudo_label_rounds" not in search_space("joint", "posterior")


def test_a_table_that_would_do_nothing_is_refused(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[prior_weight]\nlow = 0.2\n")
    with pytest.raises(ValueError, match=r"prior_weight has no effect with prior='uniform'; use "
                                         r"--prior class, neighbors or posterior"):
        search_space("joint", "uniform", f)
    f.write_text("[pseudo_label_rounds]\nchoices = [0, 1]\n")
    with pytest.raises(ValueError, match=r"pseudo_label_rounds has no effect with "
                                         r"prior='class'; use --prior posterior"):
        search_space("joint", "class", f)
    assert search_space("joint", "posterior", f)["pseudo_label_rounds"].choices == (0, 1)


def test_float_fields_take_categorical_choices(tmp_path):
    """PosteL's grid as a space: lr and weight decay take exactly the listed values."""
    import optuna

    f = tmp_path / "s.toml"
    f.write_text("[lr]\nchoices = [0.001, 0.002, 0.01, 0.05]\n"
                 "[weight_decay]\nchoices = [0, 5e-4]\n")
    specs = search_space("joint", "posterior", f)
    assert specs["lr"].choices == (0.001, 0.002, 0.01, 0.05)
    assert specs["weight_decay"].choices == (0.0, 5e-4)
    assert all(isinstance(c, float) for c in specs["weight_decay"].choices)
    assert specs["lr"].grid_values() == [0.001, 0.002, 0.01, 0.05]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        seen.add((specs["lr"].suggest(trial), specs["weight_decay"].suggest(trial)))
        study.tell(trial, 0.0)
    assert seen <= {(lr, wd) for lr in (0.001, 0.002, 0.01, 0.05) for wd in (0.0, 5e-4)}
    assert len(seen) > 4  # both fields vary


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[lr]\nchoices = [0.01, -0.1]\n",
         r"lr.choices must be a non-empty list of distinct numbers in \[0, inf\); got"),
        ("[epsilon]\nchoices = [0.1, 1.5]\n", r"epsilon.choices .* in \[0, 1\]; got"),
        ("[dropout]\nchoices = [0.5, 1.0]\n", r"dropout.choices .* in \[0, 1\); got"),
        ("[weight_decay]\nchoices = [0, 0]\n", "weight_decay.choices must be .* distinct"),
        ("[lr]\nchoices = [true]\n", "lr.choices must be"),
        ("[lr]\nchoices = []\n", "lr.choices must be"),
        ("[hidden]\nchoices = [16.5]\n", "hidden.choices must be a non-empty list of integers"),
        ("[lr]\nchoices = [0.01]\nlog = true\n", "lr has choices and log; give either"),
    ],
)
def test_bad_float_choices_are_one_clear_error(tmp_path, text, match):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        search_space("joint", space_file=f)
