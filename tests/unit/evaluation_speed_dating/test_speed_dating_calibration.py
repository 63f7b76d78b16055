"""Reciprocal calibrated scores (H1, H2): non-negative fits, person terms cross-fitted by wave, pre-date inputs only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score

import speed_dating_data as sdd
from perfectmatch.evaluation import speed_dating as sd
from perfectmatch.evaluation import speed_dating_calibration as cal
from perfectmatch.evaluation.auc import within_wave_auc


def _data(tmp_path: Path, waves: tuple[int, ...] = (1, 2, 3, 4)) -> sd.SpeedDating:
    return sd.load(sdd.write(tmp_path / "sd.csv", sdd.rows(waves=waves, per_side=5)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.sampled_from(cal.NONNEG_CS))
def test_weights_are_never_negative(seed: int, c: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 4)) * [1.0, 2.0, 0.5, 1.0] + 3.0
    y = (rng.random(300) < 1 / (1 + np.exp(-(x[:, 0] - x[:, 1] + 2.0)))).astype(int)  # x1 counts against
    got = cal.fit_nonnegative(x, y, c)
    assert (got.weights >= 0).all()
    assert ((got.probability(x) > 0) & (got.probability(x) < 1)).all()


@pytest.mark.parametrize("c", cal.NONNEG_CS)
def test_same_optimum_as_sklearn_when_the_bound_is_inactive(c: float) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5] + 3.0
    y = (rng.random(500) < 1 / (1 + np.exp(-(x @ [1.0, 0.5, 2.0] - 9.0)))).astype(int)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(z, y)
    free = ref.coef_[0] / x.std(axis=0)
    assert (free > 0).all()
    got = cal.fit_nonnegative(x, y, c)
    np.testing.assert_allclose(got.weights, free, rtol=1e-3)
    np.testing.assert_allclose(got.probability(x), ref.predict_proba(z)[:, 1], atol=1e-4)


def test_constant_column_keeps_weight_zero() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=200), np.full(200, 0.5)])
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    got = cal.fit_nonnegative(x, y, 1.0)
    assert got.weights[1] == 0.0 and got.weights[0] > 0


def test_ridge_gcv_equals_sklearn_ridge_at_the_chosen_strength(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 6))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.nan_to_num(x) @ [1.0, 0, 2.0, 0, 0, -1.0] + rng.normal(size=80)
    weight = rng.integers(1, 20, 80).astype(float)
    monkeypatch.setattr(cal, "RIDGE_ALPHAS", (3.0,))
    filled = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    z = (filled - filled.mean(axis=0)) / filled.std(axis=0)
    want = Ridge(alpha=3.0).fit(z, y, sample_weight=weight).predict(z[:5])
    np.testing.assert_allclose(cal.ridge_gcv(x, y, weight, x[:5]), want)


def test_within_wave_auc_is_the_pooled_auc_for_one_wave() -> None:
    rng = np.random.default_rng(2)
    score, label = rng.random(50), (rng.random(50) < 0.4).astype(int)
    assert within_wave_auc(score, label, np.ones(50)) == pytest.approx(roc_auc_score(label, score))
    # a wave shifted far up changes the pooled AUC but not the within-wave one
    waves = np.repeat([1, 2], 25)
    shifted = score + 10.0 * (waves == 2)
    assert within_wave_auc(shifted, label, waves) == pytest.approx(within_wave_auc(score, label, waves))


def test_person_terms_never_see_their_own_wave(tmp_path: Path) -> None:
    d = _data(tmp_path)
    waves = np.unique(d.pair_wave)
    base = cal.person_terms(d, waves)
    flipped = sd.SpeedDating(**{**d.__dict__, "dec_m": np.where(d.pair_wave == 2, 1 - d.dec_m, d.dec_m)})
    again = cal.person_terms(flipped, waves)
    in_wave_2 = d.wave == 2
    np.testing.assert_allclose(again[in_wave_2], base[in_wave_2])  # wave 2's own outcomes never reach them
    assert not np.allclose(again[~in_wave_2], base[~in_wave_2])  # but they do train the other waves' terms
    held_out = cal.person_terms(d, waves[waves != 3])
    assert not np.isnan(held_out).any()


def test_person_features_are_pre_date_without_race() -> None:
    assert set(cal.PERSON_FEATURES) <= set(sd.PRE_DATE_FEATURES)
    assert not set(cal.PERSON_FEATURES) & {"race", "imprace", "gender", *sd.AFTER_DATE_COLUMNS}


def test_after_date_values_change_no_input(tmp_path: Path) -> None:
    data = sdd.rows(waves=(1, 2, 3), per_side=4)
    base = sd.load(sdd.write(tmp_path / "a.csv", data))
    scrambled = [dict(r) for r in data]
    for r in scrambled:
        for c in sd.AFTER_DATE_COLUMNS:
            if c not in ("dec", "match"):
                r[c] = ""
    other = sd.load(sdd.write(tmp_path / "b.csv", scrambled))
    waves = np.unique(base.pair_wave)
    for a, b in zip(
        cal.side_inputs(sd.our_scores(base), base, cal.person_terms(base, waves)).values(),
        cal.side_inputs(sd.our_scores(other), other, cal.person_terms(other, waves)).values(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_leave_wave_out_reciprocal(tmp_path: Path) -> None:
    d = _data(tmp_path)
    ours = sd.our_scores(d)
    for actor_partner in (False, True):
        got = cal.leave_wave_out_reciprocal(ours, d, actor_partner=actor_partner)
        assert set(got) == {"match", "dec_m", "dec_w"}
        np.testing.assert_allclose(got["match"], got["dec_m"] * got["dec_w"])
        assert ((got["match"] >= 0) & (got["match"] <= 1)).all()
    one = _data(tmp_path, waves=(3,))
    assert np.isnan(cal.leave_wave_out_reciprocal(sd.our_scores(one), one, actor_partner=True)["match"]).all()
