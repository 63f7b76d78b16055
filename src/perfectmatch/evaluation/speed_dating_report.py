"""The speed-dating evaluation table: our score, a calibrated score and baselines, with intervals.

Every score is evaluated on the same pairs for three outcomes: the mutual ``match`` and each side's
decision (``dec`` of the man, ``dec`` of the woman). ROC AUC is reported over all pairs and per
wave, with 95 % percentile intervals from the two-way participant bootstrap of ``evaluation.auc``
(the same resamples for every score, so rows are comparable), the AUC *within waves* (positive and
negative dates compared only inside the same wave, as the engine only ranks people against others
in the same pool; it ignores how match rates differ between waves), and reciprocal precision@k per
participant (share of mutual matches among each person's ``k`` best-scored dates, averaged over
people, interval from resampling people).

Rows
----
- ``perfectmatch``: the library's final score (``speed_dating.our_scores``: similarities and the
  stated-preference fit terms), no fitting.
- ``perfectmatch + prefilter``: the same, with pairs the mutual age/goal prefilter rejects ranked
  last (the engine would never propose them).
- ``perfectmatch, similarity only``: the library's score without the fit terms (what it was before
  they were added), for comparison.
- ``calibrated (frozen)``: logistic weights on our score's components (``calibration_features``)
  fitted once on the shared waves 1-14 (``CALIBRATED_WEIGHTS``, regularisation chosen there by
  leave-wave-out cross-validation) and applied unchanged; on the shared file this row is in-sample,
  on any other waves it is a true out-of-sample test.
- ``calibrated (leave-wave-out)``: the same procedure (choice of the regularisation included) run on
  all other waves of the file for each held-out wave (out-of-sample on every file).
- ``calibrated reciprocal (leave-wave-out)``: hypothesis H1 (``speed_dating_calibration``): one
  non-negative logistic model per side's own yes on that side's components, the pair scored by the
  product of the two probabilities; its ``dec`` columns are the side models' own probabilities.
- ``calibrated reciprocal + actor/partner (leave-wave-out)``: hypothesis H2: H1 plus each side's
  predicted yes-rate and the partner's predicted chosen-rate (person models cross-fitted by wave).
  Neither beat ``calibrated (leave-wave-out)`` on waves 1-14, so neither has frozen weights: they
  are kept as rows to show the measured result and to be re-measured on other waves.
- ``random``, ``interest cosine``, ``OkCupid-style mutual``: unsupervised baselines.
- ``supervised logistic (leave-wave-out)``: logistic regression on all pre-date features of both
  sides, trained per outcome on the other waves for each held-out wave.

Pooling leave-wave-out predictions: each wave is scored by a different fit, and the overall AUC
pools their probabilities across waves. That is biased low for fitted rows: a fit's intercept
carries its training waves' match rate, which is lowest exactly when the held-out wave's rate is
highest (the pooling bias of leave-one-group-out AUC, Airola et al. 2011; measured here: a
one-feature logistic model of our own final score, whose AUC is 0.576, pools to 0.539). The AUC
*within waves* compares only pairs scored by the same fit and is free of it: for leave-wave-out
rows it is the column to compare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from perfectmatch.errors import ConfigError, InvalidInputError
from perfectmatch.evaluation import speed_dating as sd
from perfectmatch.evaluation import speed_dating_calibration as cal
from perfectmatch.evaluation.auc import (
    Estimate,
    auc_parts,
    auc_with_ci,
    estimate,
    pigeonhole_weights,
    reciprocal_precision_at_k,
    within_wave_auc,
)

TARGETS: dict[str, str] = {"match": "match", "dec_m": "dec (men)", "dec_w": "dec (women)"}
CI_METHOD = (
    "two-way participant bootstrap (men and women resampled independently within each wave; "
    "pair weight = product of the two draw counts), 95% percentile interval"
)

#: Calibrated score: logistic weights on ``speed_dating.calibration_features`` (raw scale), fitted
#: with ``fit_calibration`` on the shared waves 1-14 only (speed_dating_waves01-14_shared.csv.gz),
#: which also chose ``CALIBRATED_C``; a test refits them on that file and checks these numbers.
CALIBRATED_WEIGHTS: dict[str, float] = {
    "sim_RC": 0.47432542712046566,
    "sim_CS": 0.115921818484968,
    "sim_EI": 0.0,
    "sim_LC": 0.4049377845887643,
    "sim_CV": -0.07772125408288649,
    "man_fit_age": -0.016880642306354256,
    "man_fit_wants": 0.22850868523478846,
    "woman_fit_age": 0.4105380333468958,
    "woman_fit_wants": 1.1417419104962865,
}
CALIBRATED_INTERCEPT = -3.5135743188685424
CALIBRATED_C = 0.01
NOT_AVAILABLE = Estimate(float("nan"), float("nan"), float("nan"))
CALIBRATION_C = 0.1  # inverse L2 strength of the supervised baseline's fits (standardised inputs)
#: Inverse L2 strengths the calibrated score chooses from, by leave-wave-out cross-validation on the
#: waves it is fitted on (the within-wave AUC of the held-out waves; ties go to the stronger one).
CALIBRATION_CS: tuple[float, ...] = (0.01, 0.1, 1.0)


def _sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise ConfigError("the evaluation needs scikit-learn: pip install 'perfectmatch[eval]'") from exc
    return SimpleImputer, LogisticRegression, make_pipeline, StandardScaler


def _logistic(c: float = CALIBRATION_C) -> Any:
    imputer, logistic, pipeline, scaler = _sklearn()
    return pipeline(imputer(strategy="median", keep_empty_features=True), scaler(), logistic(C=c, max_iter=2000))


#: How a leave-wave-out model is trained: ``fit(x, y, waves)`` on the training waves.
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]


def _plain_fit(x: np.ndarray, y: np.ndarray, waves: np.ndarray) -> Any:
    return _logistic().fit(x, y)


def _raw_coef(model: Any) -> tuple[np.ndarray, float]:
    """Weights on the raw feature scale and intercept of a fitted imputer-scaler-logistic pipeline."""
    scaler, logit = model[1], model[2]
    coef = logit.coef_[0] / scaler.scale_
    return coef, float(logit.intercept_[0] - (coef * scaler.mean_).sum())


def leave_wave_out(x: np.ndarray, y: np.ndarray, waves: np.ndarray, fit: Fitter = _plain_fit) -> np.ndarray:
    """Out-of-sample probabilities: for each wave, a model fitted on all other waves predicts it.

    A wave whose training part has a single class gets the training base rate; with a single wave
    there is nothing to train on and every prediction is NaN (reported as not available).
    """
    out = np.empty(y.size, dtype=np.float64)
    for w in np.unique(waves):
        test = waves == w
        train = ~test
        if np.unique(y[train]).size < 2:
            out[test] = float(y[train].mean()) if train.any() else np.nan
            continue
        out[test] = fit(x[train], y[train], waves[train]).predict_proba(x[test])[:, 1]
    return out


def choose_c(x: np.ndarray, y: np.ndarray, waves: np.ndarray) -> float:
    """The calibrated score's regularisation: the ``CALIBRATION_CS`` value whose leave-wave-out
    scores on these waves have the highest within-wave AUC (``CALIBRATION_C`` with fewer than three
    waves, too few to cross-validate)."""
    if np.unique(waves).size < 3:
        return CALIBRATION_C
    best, best_auc = CALIBRATION_C, -1.0
    for c in CALIBRATION_CS:
        got = within_wave_auc(leave_wave_out(x, y, waves, lambda a, b, _, c=c: _logistic(c).fit(a, b)), y, waves)
        if got > best_auc + 1e-12:
            best, best_auc = c, got
    return best


def _calibrated_fit(x: np.ndarray, y: np.ndarray, waves: np.ndarray) -> Any:
    return _logistic(choose_c(x, y, waves)).fit(x, y)


def fit_calibration(ours: sd.OurScores, match: np.ndarray, waves: np.ndarray) -> tuple[dict[str, float], float, float]:
    """Weights (raw feature scale), intercept and chosen ``C`` of the calibrated score for ``match``."""
    x, names = sd.calibration_features(ours)
    c = choose_c(x, match, waves)
    coef, intercept = _raw_coef(_logistic(c).fit(x, match))
    return {n: float(v) for n, v in zip(names, coef, strict=True)}, intercept, c


def frozen_calibrated(ours: sd.OurScores) -> np.ndarray:
    """The calibrated score with the weights fitted on the shared waves (``CALIBRATED_WEIGHTS``)."""
    x, names = sd.calibration_features(ours)
    return x @ np.array([CALIBRATED_WEIGHTS[n] for n in names]) + CALIBRATED_INTERCEPT


@dataclass
class ScoreResult:
    """One row of the table: AUC per outcome (overall and per wave) and precision@k."""

    name: str
    short: str
    description: str
    auc: dict[str, Estimate]
    within_waves: dict[str, Estimate]
    per_wave: dict[int, dict[str, Estimate]]
    precision_at_k: Estimate


@dataclass
class SpeedDatingReport:
    """Everything ``perfectmatch eval speed-dating`` prints."""

    source: str
    waves: list[int]
    participants: int
    pairs: int
    rows: int
    skipped: dict[str, int]
    base_rates: dict[str, float]
    resamples: int
    seed: int
    k: int
    ci_method: str
    inputs: list[str]
    results: list[ScoreResult]
    pair_counts: dict[int, int] = field(default_factory=dict)
    calibration_fitted_here: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _labels(data: sd.SpeedDating) -> dict[str, np.ndarray]:
    return {"match": data.match, "dec_m": data.dec_m, "dec_w": data.dec_w}


def _precision(score: np.ndarray, data: sd.SpeedDating, k: int, rng: np.random.Generator, resamples: int) -> Estimate:
    values = reciprocal_precision_at_k(score, data.match, data.man, data.woman, k)
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    if resamples == 0:
        return Estimate(float(values.mean()), float("nan"), float("nan"))
    draws = rng.integers(0, values.size, size=(resamples, values.size))
    boot = values[draws].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return Estimate(float(values.mean()), float(lo), float(hi))


def evaluate(data: sd.SpeedDating, *, resamples: int = 1000, seed: int = 0, k: int = 3) -> SpeedDatingReport:
    """Score every pair with our score, the calibrated score and the baselines; AUCs with intervals.

    Runs with one BLAS thread: the many small logistic fits are 10x slower when BLAS threads
    compete for the cores (measured: 5.5 s -> 0.4 s for the leave-wave-out fits of one outcome).
    """
    _sklearn()  # import first: a BLAS library loaded inside the limit would escape it
    with threadpool_limits(1):
        return _evaluate(data, resamples=resamples, seed=seed, k=k)


def _evaluate(data: sd.SpeedDating, *, resamples: int, seed: int, k: int) -> SpeedDatingReport:
    if resamples < 0:
        raise InvalidInputError(f"bootstrap resamples must be 0 or more, got {resamples}")
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    _sklearn()
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    labels = _labels(data)
    ours = sd.our_scores(data)
    calib_x, _ = sd.calibration_features(ours)
    sup_x, _ = sd.pair_features(data, ours)
    scores: list[tuple[str, str, str, np.ndarray | dict[str, np.ndarray]]] = [
        ("perfectmatch", "ours", "library final score, no fitting", ours.final),
        (
            "perfectmatch + prefilter",
            "ours+prefilter",
            "pairs the age/goal prefilter rejects ranked last",
            ours.with_prefilter,
        ),
        (
            "perfectmatch, similarity only",
            "ours sim-only",
            "library score without the stated-preference fit terms",
            ours.similarity_only,
        ),
        (
            "calibrated (frozen)",
            "calibrated",
            "weights fitted on shared waves 1-14 (in-sample there)",
            frozen_calibrated(ours),
        ),
        (
            "calibrated (leave-wave-out)",
            "calibrated LWO",
            "weights refitted without the scored wave",
            leave_wave_out(calib_x, data.match, data.pair_wave, _calibrated_fit),
        ),
        (
            "calibrated reciprocal (leave-wave-out)",
            "recip LWO",
            "H1: one non-negative model per side's yes, product; refitted without the scored wave",
            cal.leave_wave_out_reciprocal(ours, data, actor_partner=False),
        ),
        (
            "calibrated reciprocal + actor/partner (leave-wave-out)",
            "recip+AP LWO",
            "H2: H1 plus cross-fitted yes-rate and chosen-rate terms; refitted without the scored wave",
            cal.leave_wave_out_reciprocal(ours, data, actor_partner=True),
        ),
        ("random", "random", "uniform random scores", rng.random(data.n_pairs)),
        ("interest cosine", "interests", "cosine of the 17 interest ratings", sd.interest_cosine(data)),
        (
            "OkCupid-style mutual",
            "OkCupid",
            "geometric mean of importance-weighted satisfaction",
            sd.okcupid_mutual(data),
        ),
        (
            "supervised logistic (leave-wave-out)",
            "supervised LWO",
            "all pre-date features, one model per outcome",
            {t: leave_wave_out(sup_x, y, data.pair_wave) for t, y in labels.items()},
        ),
    ]
    weights = (
        pigeonhole_weights(data.pair_wave, data.man, data.woman, resamples, rng)
        if resamples
        else np.zeros((0, data.n_pairs))
    )
    waves = sorted(int(w) for w in np.unique(data.pair_wave))
    results = []
    for name, short, description, score in scores:
        per_target = score if isinstance(score, dict) else dict.fromkeys(labels, score)
        if any(np.isnan(v).any() for v in per_target.values()):
            na = dict.fromkeys(labels, NOT_AVAILABLE)
            per_wave_na = {w: dict(na) for w in waves}
            results.append(
                ScoreResult(
                    name,
                    short,
                    f"{description} (n/a: needs two waves or more)",
                    na,
                    dict(na),
                    per_wave_na,
                    NOT_AVAILABLE,
                )
            )
            continue
        overall = {t: auc_with_ci(per_target[t], y, weights) for t, y in labels.items()}
        per_wave: dict[int, dict[str, Estimate]] = {}
        # AUC parts (numerator, denominator) of all pairs and of each resample, summed over waves
        sums = {t: [np.zeros(1), np.zeros(1), np.zeros(resamples), np.zeros(resamples)] for t in labels}
        for w in waves:
            sel = data.pair_wave == w
            per_wave[w] = {}
            for t, y in labels.items():
                point = auc_parts(per_target[t][sel], y[sel])
                boot = auc_parts(per_target[t][sel], y[sel], weights[:, sel])
                per_wave[w][t] = estimate(point, boot)
                for acc, part in zip(sums[t], (*point, *boot), strict=True):
                    acc += part
        within = {t: estimate((a[0], a[1]), (a[2], a[3])) for t, a in sums.items()}
        precision = _precision(per_target["match"], data, k, rng, resamples)
        results.append(ScoreResult(name, short, description, overall, within, per_wave, precision))
    fitted, intercept, c = fit_calibration(ours, data.match, data.pair_wave)
    return SpeedDatingReport(
        source=data.source,
        waves=waves,
        participants=int(data.iid.size),
        pairs=data.n_pairs,
        rows=data.rows,
        skipped=dict(data.skipped),
        base_rates={t: float(y.mean()) for t, y in labels.items()},
        resamples=resamples,
        seed=seed,
        k=k,
        ci_method=CI_METHOD,
        inputs=list(sd.PRE_DATE_FEATURES),
        results=results,
        pair_counts={w: int((data.pair_wave == w).sum()) for w in waves},
        calibration_fitted_here={**fitted, "intercept": intercept, "C": c},
        seconds=time.perf_counter() - start,
    )
