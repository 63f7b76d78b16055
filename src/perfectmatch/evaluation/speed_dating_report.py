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
- ``perfectmatch``: the library's final score (``speed_dating.our_scores``), no fitting.
- ``perfectmatch + prefilter``: the same, with pairs the mutual age/goal prefilter rejects ranked
  last (the engine would never propose them).
- ``calibrated (frozen)``: logistic weights on our score's ingredients fitted once on the shared
  waves 1-14 (``CALIBRATED_WEIGHTS``) and applied unchanged; on the shared file this row is
  in-sample, on any other waves it is a true out-of-sample test.
- ``calibrated (leave-wave-out)``: the same model refitted on all other waves of the file for each
  held-out wave (out-of-sample on every file).
- ``random``, ``interest cosine``, ``OkCupid-style mutual``: unsupervised baselines.
- ``supervised logistic (leave-wave-out)``: logistic regression on all pre-date features of both
  sides, trained per outcome on the other waves for each held-out wave.

Predictions of leave-wave-out models come from different fits per wave; the overall AUC pools them.
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
from perfectmatch.evaluation.auc import (
    Estimate,
    auc_parts,
    auc_with_ci,
    estimate,
    pigeonhole_weights,
    reciprocal_precision_at_k,
)

TARGETS: dict[str, str] = {"match": "match", "dec_m": "dec (men)", "dec_w": "dec (women)"}
CI_METHOD = (
    "two-way participant bootstrap (men and women resampled independently within each wave; "
    "pair weight = product of the two draw counts), 95% percentile interval"
)

#: Calibrated score: logistic weights on ``speed_dating.calibration_features`` (raw scale), fitted
#: with ``fit_calibration`` on the shared waves 1-14 only (speed_dating_waves01-14_shared.csv.gz);
#: a test refits them on that file and checks these numbers.
CALIBRATED_WEIGHTS: dict[str, float] = {
    "sim_RC": -0.25441335107969804,
    "sim_CS": -0.031064021130548857,
    "sim_EI": 0.0,
    "sim_LC": 0.13789062507464203,
    "sim_CV": -0.6896608822662834,
    "man_side": 2.716141566980376,
    "woman_side": 3.2039858401401355,
    "vector": -2.1346697592166777,
    "eligible": 0.22314075601133937,
}
CALIBRATED_INTERCEPT = -4.141551184146003
NOT_AVAILABLE = Estimate(float("nan"), float("nan"), float("nan"))
CALIBRATION_C = 0.1  # inverse L2 strength of every logistic fit (standardised inputs)


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


def _logistic() -> Any:
    imputer, logistic, pipeline, scaler = _sklearn()
    return pipeline(
        imputer(strategy="median", keep_empty_features=True), scaler(), logistic(C=CALIBRATION_C, max_iter=2000)
    )


def leave_wave_out(x: np.ndarray, y: np.ndarray, waves: np.ndarray, make: Callable[[], Any]) -> np.ndarray:
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
        model = make().fit(x[train], y[train])
        out[test] = model.predict_proba(x[test])[:, 1]
    return out


def fit_calibration(ours: sd.OurScores, match: np.ndarray) -> tuple[dict[str, float], float]:
    """Logistic weights (on the raw feature scale) and intercept of the calibrated score for ``match``."""
    x, names = sd.calibration_features(ours)
    model = _logistic().fit(x, match)
    scaler, logit = model[1], model[2]
    coef = logit.coef_[0] / scaler.scale_
    intercept = float(logit.intercept_[0] - (coef * scaler.mean_).sum())
    return {n: float(c) for n, c in zip(names, coef, strict=True)}, intercept


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
            "calibrated (frozen)",
            "calibrated",
            "weights fitted on shared waves 1-14 (in-sample there)",
            frozen_calibrated(ours),
        ),
        (
            "calibrated (leave-wave-out)",
            "calibrated LWO",
            "weights refitted without the scored wave",
            leave_wave_out(calib_x, data.match, data.pair_wave, _logistic),
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
            {t: leave_wave_out(sup_x, y, data.pair_wave, _logistic) for t, y in labels.items()},
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
    fitted, intercept = fit_calibration(ours, data.match)
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
        calibration_fitted_here={**fitted, "intercept": intercept},
        seconds=time.perf_counter() - start,
    )
