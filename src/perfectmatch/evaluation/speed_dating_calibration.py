"""Reciprocal calibrated scores for the speed-dating evaluation: one model per side's decision.

Two hypotheses of the README ("Evaluation on real outcomes: speed dating"), written down before
they were measured:

- **H1, reciprocal and non-negative** (``fit_reciprocal``). A match is two decisions, so each side
  gets its own logistic model of *its own* yes (``dec``: about 2.5x the positive events of
  ``match``) on its directional components only (``side_features``: the five per-dimension
  similarities and that side's two stated-preference fit terms, as in the library's directional
  score). Every weight is constrained non-negative (``fit_nonnegative``): each component is built
  so that more means better suited, and a negative weight fitted on 2,867 dates is more likely
  noise than truth. A pair's score is the product of the two probabilities (both must say yes).
- **H2, actor and partner effects** (``person_terms``; Joel, Eastwick & Finkel 2017). Most of what
  pre-date answers predict is person-level: how readily the chooser says yes and how often the
  partner is chosen. Each side's model of H1 gets two more inputs: the chooser's predicted
  yes-rate and the partner's predicted chosen-rate, each a ridge regression, per sex, of people's
  rates on their own sign-up answers (``PERSON_FEATURES``: race and ``imprace`` left out, as the
  product leaves ethnicity out of matching), fitted on person means and *cross-fitted by wave*:
  nobody's term comes from a person model that saw their wave. These are popularity and
  selectivity, not compatibility, so they belong to this calibrated model only, never to the
  library's score.

Both are fitted with the labels of the waves they are fitted on only; ``leave_wave_out_reciprocal``
refits everything (person models and the choice of the L2 strength included) without the scored wave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from perfectmatch.evaluation import speed_dating as sd
from perfectmatch.evaluation.auc import within_wave_auc
from perfectmatch.models import Dimension

SIDES: tuple[str, str] = ("man", "woman")
#: Inverse L2 strengths (standardised inputs, scikit-learn's convention) chosen from by leave-wave-out
#: cross-validation on the fitted waves, as for the match-level calibrated score.
NONNEG_CS: tuple[float, ...] = (0.01, 0.1, 1.0)
#: Sign-up answers a person-level (actor/partner) model reads: ``PRE_DATE_FEATURES`` without gender
#: (the models are per sex), race and ``imprace``; goal and field are one-hot coded.
PERSON_NUMERIC: tuple[str, ...] = tuple(
    c for c in sd.PRE_DATE_FEATURES if c not in ("gender", "race", "imprace", "goal", "field_cd")
)
PERSON_CODED: dict[str, tuple[int, ...]] = {"goal": tuple(range(1, 7)), "field_cd": tuple(range(1, 19))}
PERSON_FEATURES: tuple[str, ...] = (*PERSON_NUMERIC, *PERSON_CODED)
#: Ridge strengths (standardised inputs) the person models choose from by generalised cross-validation
#: (``ridge_gcv``).
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 4, 11))


# ------------------------------------------------------------------------------ non-negative logistic
@dataclass(frozen=True)
class Logit:
    """A fitted logistic model on the raw feature scale: ``p = sigmoid(x @ weights + intercept)``."""

    weights: np.ndarray
    intercept: float

    def probability(self, x: np.ndarray) -> np.ndarray:
        """``(m,)`` predicted probability of a yes for the rows of ``x``."""
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.intercept)))


def fit_nonnegative(x: np.ndarray, y: np.ndarray, c: float) -> Logit:
    """L2-penalised logistic regression with every weight >= 0 (standardised inputs, free intercept).

    Minimises ``c * sum(log-loss) + |w|^2 / 2`` over the standardised columns, scikit-learn's
    convention, with L-BFGS-B bounds; a constant column keeps weight 0. Weights are returned on the
    raw scale (dividing by a positive scale keeps them non-negative).
    """
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    yf = y.astype(np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = z @ theta[1:] + theta[0]
        p = 1.0 / (1.0 + np.exp(-t))
        value = c * float(np.logaddexp(0.0, t).sum() - (yf * t).sum()) + 0.5 * float(theta[1:] @ theta[1:])
        resid = c * (p - yf)
        return value, np.concatenate([[resid.sum()], z.T @ resid + theta[1:]])

    base = float(np.clip(yf.mean(), 1e-6, 1 - 1e-6))
    start = np.concatenate([[np.log(base / (1 - base))], np.zeros(z.shape[1])])
    bounds = [(None, None)] + [(0.0, None)] * z.shape[1]
    theta = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
    weights = theta[1:] / scale
    return Logit(weights, float(theta[0] - weights @ mean))


def choose_nonnegative_c(x: np.ndarray, y: np.ndarray, waves: np.ndarray) -> float:
    """The ``NONNEG_CS`` strength whose leave-wave-out predictions on these waves have the best within-wave AUC.

    Ties go to the stronger penalty; with fewer than three waves the middle value is used.
    """
    if np.unique(waves).size < 3:
        return NONNEG_CS[len(NONNEG_CS) // 2]
    best, best_auc = NONNEG_CS[0], -1.0
    for c in NONNEG_CS:
        pred = np.empty(y.size)
        for w in np.unique(waves):
            test = waves == w
            pred[test] = fit_nonnegative(x[~test], y[~test], c).probability(x[test])
        got = within_wave_auc(pred, y, waves)
        if got > best_auc + 1e-12:
            best, best_auc = c, got
    return best


# ------------------------------------------------------------------------------------- components
def side_features(ours: sd.OurScores, side: str) -> tuple[np.ndarray, list[str]]:
    """``(m, 7)`` one side's directional components: the five similarities and its own fit terms (nan -> 0.5)."""
    fit = ours.fit_man if side == "man" else ours.fit_woman
    names = [f"sim_{d.value}" for d in Dimension] + [f"fit_{t}" for t in sd.FIT_TERMS]
    x = np.column_stack([*(ours.dims[d.value] for d in Dimension), fit]).astype(np.float64)
    return np.nan_to_num(x, nan=0.5), names


def person_matrix(data: sd.SpeedDating) -> np.ndarray:
    """``(n, p)`` every participant's ``PERSON_FEATURES`` (goal and field one-hot; nan = unanswered)."""
    cols = [data.column(c) for c in PERSON_NUMERIC]
    for c, codes in PERSON_CODED.items():
        v = data.column(c)
        cols += [np.where(np.isnan(v), np.nan, (v == k).astype(np.float64)) for k in codes]
    return np.column_stack(cols)


def person_rates(data: sd.SpeedDating, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per participant over the given pairs: yes-rate (actor), chosen-rate (partner) and number of dates."""
    n = data.iid.size
    m, w = data.man[pairs], data.woman[pairs]
    dates = np.bincount(m, minlength=n) + np.bincount(w, minlength=n)
    said = np.bincount(m, data.dec_m[pairs], n) + np.bincount(w, data.dec_w[pairs], n)
    got = np.bincount(m, data.dec_w[pairs], n) + np.bincount(w, data.dec_m[pairs], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return said / dates, got / dates, dates.astype(np.float64)


def ridge_gcv(x: np.ndarray, y: np.ndarray, weight: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Weighted ridge regression of ``y`` on ``x`` predicting ``x_new``; strength by generalised cross-validation.

    Missing inputs take the training median; columns are standardised on the training rows (a
    constant column is dropped); the strength is the ``RIDGE_ALPHAS`` value with the lowest GCV
    error (Golub, Heath & Wahba 1979), computed from one SVD. Plain numpy: the leave-wave-out run
    fits hundreds of these small models.
    """
    med = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
    x, x_new = (np.where(np.isnan(a), med, a) for a in (x, x_new))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    keep = scale > 0
    z, z_new = ((a[:, keep] - mean[keep]) / scale[keep] for a in (x, x_new))
    wn = weight / weight.sum()
    zc, yc = z - wn @ z, y - wn @ y
    root = np.sqrt(weight)[:, None]
    u, sv, vt = np.linalg.svd(root * zc, full_matrices=False)
    uy = u.T @ (root[:, 0] * yc)
    best, best_gcv = RIDGE_ALPHAS[0], np.inf
    for alpha in RIDGE_ALPHAS:
        shrink = sv**2 / (sv**2 + alpha)
        resid = root[:, 0] * yc - u @ (shrink * uy)
        gcv = float(resid @ resid) / (1.0 - (shrink.sum() + 1.0) / y.size) ** 2
        if gcv < best_gcv:
            best, best_gcv = alpha, gcv
    beta = vt.T @ (sv / (sv**2 + best) * uy)
    return (z_new - wn @ z) @ beta + wn @ y


def _person_fit_predict(
    feats: np.ndarray, targets: np.ndarray, dates: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """``(len(test), 2)`` actor and partner rates of ``test`` people from ridge models fitted on ``train`` people."""
    return np.column_stack([ridge_gcv(feats[train], targets[train, j], dates[train], feats[test]) for j in range(2)])


def person_terms(data: sd.SpeedDating, train_waves: np.ndarray) -> np.ndarray:
    """``(n, 2)`` predicted yes-rate and chosen-rate of every participant, cross-fitted by wave (H2).

    Models are per sex and learn only from the dates of ``train_waves``. A participant of a training
    wave gets the prediction of models fitted on the *other* training waves; anyone else gets that
    of models fitted on all of them, so no term is ever predicted by a model that saw its wave.
    """
    pairs = np.isin(data.pair_wave, train_waves)
    yes, chosen, dates = person_rates(data, pairs)
    targets = np.column_stack([yes, chosen])
    feats = person_matrix(data)
    gender = data.column("gender")
    out = np.full((data.iid.size, 2), np.nan)
    known = dates > 0
    for g in (0.0, 1.0):
        sex = gender == g
        for w in (*np.unique(train_waves), None):
            train = sex & known & (data.wave != w) & np.isin(data.wave, train_waves)
            test = sex & ((data.wave == w) if w is not None else ~np.isin(data.wave, train_waves))
            if test.any() and train.any():
                out[test] = _person_fit_predict(feats, targets, dates, train, test)
    return out


def side_inputs(ours: sd.OurScores, data: sd.SpeedDating, terms: np.ndarray | None) -> dict[str, np.ndarray]:
    """Each side's model inputs: its components (H1), plus its own yes-rate and the partner's chosen-rate (H2)."""
    out = {}
    for side in SIDES:
        x, _ = side_features(ours, side)
        if terms is not None:
            me, other = (data.man, data.woman) if side == "man" else (data.woman, data.man)
            x = np.column_stack([x, terms[me, 0], terms[other, 1]])
        out[side] = x
    return out


# ------------------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class ReciprocalModel:
    """One non-negative logistic model per side's yes; a pair's match score is their product."""

    man: Logit
    woman: Logit
    c: Mapping[str, float]

    def scores(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"match", "dec_m", "dec_w"}`` scores of the pairs whose ``side_inputs`` are given."""
        p_m, p_w = self.man.probability(inputs["man"]), self.woman.probability(inputs["woman"])
        return {"match": p_m * p_w, "dec_m": p_m, "dec_w": p_w}


def fit_reciprocal(inputs: Mapping[str, np.ndarray], data: sd.SpeedDating, pairs: np.ndarray) -> ReciprocalModel:
    """Fit both sides' models on ``pairs`` (a boolean mask), each choosing its L2 strength by leave-wave-out."""
    models, cs = {}, {}
    for side, label in zip(SIDES, (data.dec_m, data.dec_w), strict=True):
        x, y, waves = inputs[side][pairs], label[pairs], data.pair_wave[pairs]
        cs[side] = choose_nonnegative_c(x, y, waves)
        models[side] = fit_nonnegative(x, y, cs[side])
    return ReciprocalModel(models["man"], models["woman"], cs)


def leave_wave_out_reciprocal(
    ours: sd.OurScores, data: sd.SpeedDating, *, actor_partner: bool
) -> dict[str, np.ndarray]:
    """Out-of-sample scores: every wave scored by models (person models included) fitted without it.

    With a single wave nothing can be fitted and every score is ``nan`` (reported as not available).
    """
    out = {t: np.full(data.n_pairs, np.nan) for t in ("match", "dec_m", "dec_w")}
    waves = np.unique(data.pair_wave)
    if waves.size < 2:
        return out
    for held in waves:
        train_waves = waves[waves != held]
        terms = person_terms(data, train_waves) if actor_partner else None
        inputs = side_inputs(ours, data, terms)
        model = fit_reciprocal(inputs, data, data.pair_wave != held)
        test = data.pair_wave == held
        for t, v in model.scores({s: x[test] for s, x in inputs.items()}).items():
            out[t][test] = v
    return out
