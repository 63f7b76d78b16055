"""Quality of candidate lists: recall of an approximate result against the exact one."""

from __future__ import annotations

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.matching.candidates import Candidates


def recall_at_k(approx: Candidates, exact: Candidates, rows: np.ndarray | None = None) -> float:
    """Share of the exact top-K partners that the approximate result also lists.

    Parameters
    ----------
    approx, exact
        Candidate lists over the same users (``k`` may differ).
    rows
        Only these users (e.g. a sample); default all.

    Returns
    -------
    float
        ``|approx ∩ exact| / |exact|`` over all listed (user, partner) entries; 1.0 when the exact
        result is empty.
    """
    if len(approx) != len(exact):
        raise InvalidInputError(f"results cover {len(approx)} and {len(exact)} users")
    sel = np.arange(len(exact)) if rows is None else np.asarray(rows, dtype=np.int64)
    ex, ap = exact.idx[sel].astype(np.int64), approx.idx[sel].astype(np.int64)
    n = int(max(len(exact), ex.max(initial=0) + 1, ap.max(initial=0) + 1))
    owner = np.arange(sel.size)[:, None]
    ex_keys = (owner * n + ex)[ex >= 0]
    ap_keys = (owner * n + ap)[ap >= 0]
    if ex_keys.size == 0:
        return 1.0
    return float(np.isin(ex_keys, ap_keys).mean())
