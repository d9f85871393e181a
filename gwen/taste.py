"""What this user likes: a small, explainable model of ratings over the sampled parameters (pure: numpy, no I/O).

Contract:
- ``fit(columns)`` takes the rated images as columns (``COLUMNS``: guidance, steps, scheduler, denoise,
  variation_strength, model, rating, favorite; one entry per image; None/NaN where a parameter does not apply)
  and returns a ``TasteModel``. Deterministic: the same rows in the same order give the same model. About 10 ms
  at 100k rows on a 2-core CPU (``bench/taste.py``).
- An image's score is its stars (1–5) plus ``FAVORITE_BONUS`` for a favorite; an unrated favorite counts as
  ``UNRATED_FAVORITE`` stars before the bonus. Images with neither a rating nor a favorite are not rows.
- Numeric parameters (guidance, steps, denoise, variation strength): a kernel-weighted mean score. The rows are
  binned (``BINS`` bins over the observed range); at a value x the mean is
  ``(Σ K(x−c)·score_c + PRIOR·μ) / (Σ K(x−c)·n_c + PRIOR)`` with a Gaussian kernel K (Silverman's bandwidth,
  floored per parameter) and μ the mean score of every rated image. The ``PRIOR`` pseudo-images at μ shrink
  sparse regions toward μ: one 5-star image does not make a liked region.
- Categorical parameters (scheduler, model): the same shrunk mean per value.
- ``score(parameter, values)`` is that mean minus μ, in stars: > 0 liked, < 0 disliked, 0 where nothing is known.
- ``lean(parameter, candidates, taste, u)`` picks one candidate with weights ∝ exp(taste·SHARPNESS·score):
  importance resampling of draws from the plain jitter, so a lean never leaves what the jitter could draw
  (its ranges and locks). ``u`` is a uniform draw in [0, 1) from the caller's seeded sampler.
- ``summary()`` explains the model, per parameter: the liked region (numeric: the band around the best value
  where the mean stays above halfway between μ and the best; categorical: the values above μ, best first), the
  mean score of the rated images in it, how many, and μ. ``why(...)`` adds the parent's value and where sampled
  children fell: the "why" table of the Variations page and ``vary --dry-run``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

NUMERIC = ("guidance", "steps", "denoise", "variation_strength")
CATEGORICAL = ("scheduler", "model")
PARAMETERS = ("guidance", "steps", "scheduler", "denoise", "variation_strength", "model")
COLUMNS = (*PARAMETERS, "rating", "favorite")
FAVORITE_BONUS = 1.0
UNRATED_FAVORITE = 4.0
PRIOR = 3.0  # pseudo-images at the overall mean, per kernel neighbourhood or category value
BINS = 64
GRID = 96  # points at which the liked band is looked for
SHARPNESS = 3.0  # a one-star better candidate weighs e^(3·taste) times more
MIN_BANDWIDTH = {"guidance": 0.25, "steps": 1.0, "denoise": 0.02, "variation_strength": 0.02}
DIGITS = {"guidance": 1, "steps": 0, "denoise": 2, "variation_strength": 2}


@dataclass(frozen=True)
class _Numeric:
    centres: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    bandwidth: float
    low: float
    high: float

    def mean(self, values: np.ndarray, mu: float) -> np.ndarray:
        kernel = np.exp(-0.5 * ((values[:, None] - self.centres[None, :]) / self.bandwidth) ** 2)
        return (kernel @ self.sums + PRIOR * mu) / (kernel @ self.counts + PRIOR)


@dataclass(frozen=True)
class _Categorical:
    counts: dict[str, int]
    sums: dict[str, float]

    def mean(self, value: Any, mu: float) -> float:
        n = self.counts.get(value, 0)
        return (self.sums.get(value, 0.0) + PRIOR * mu) / (n + PRIOR)


class TasteModel:
    """A fitted taste: ``images`` rated rows, overall mean score ``mu``, one estimator per known parameter."""

    def __init__(self, images: int, mu: float, numeric: dict[str, _Numeric], categorical: dict[str, _Categorical],
                 raw: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.images = images
        self.mu = mu
        self._numeric = numeric
        self._categorical = categorical
        self._raw = raw  # parameter → (values, scores) of the rows where it applies: the liked band's real mean

    @property
    def empty(self) -> bool:
        return self.images == 0

    def score(self, parameter: str, values: Sequence) -> np.ndarray:
        """Liked score (stars above the overall mean) of each value; 0 for an unknown parameter or None."""
        if parameter in self._numeric:
            array = np.asarray(values, dtype=float)
            known = ~np.isnan(array)
            out = np.zeros(len(array))
            if known.any():
                out[known] = self._numeric[parameter].mean(array[known], self.mu) - self.mu
            return out
        if parameter in self._categorical:
            return np.array([0.0 if v is None else self._categorical[parameter].mean(v, self.mu) - self.mu
                             for v in values])
        return np.zeros(len(values))

    def lean(self, parameter: str, candidates: Sequence, taste: float, u: float) -> int:
        """The index of the candidate picked with weights ∝ exp(taste·SHARPNESS·score)."""
        logits = taste * SHARPNESS * self.score(parameter, candidates)
        weights = np.exp(logits - logits.max())
        cumulative = np.cumsum(weights)
        return int(min(np.searchsorted(cumulative, u * cumulative[-1], side="right"), len(candidates) - 1))

    def summary(self) -> tuple[dict[str, Any], ...]:
        """Per parameter: ``parameter, liked, low/high or values, mean_rating, images, overall`` (an empty model:
        none; a parameter no rated image has: "no rated image has it")."""
        if self.empty:
            return ()
        rows = []
        for parameter in PARAMETERS:
            if parameter in self._numeric:
                rows.append(self._numeric_summary(parameter))
            elif parameter in self._categorical:
                rows.append(self._categorical_summary(parameter))
            else:
                rows.append({"parameter": parameter, "overall": round(self.mu, 2), "liked": "no rated image has it",
                             "mean_rating": None, "images": 0})
        return tuple(rows)

    def _numeric_summary(self, parameter: str) -> dict[str, Any]:
        estimator = self._numeric[parameter]
        grid = np.linspace(estimator.low, estimator.high, GRID)
        means = estimator.mean(grid, self.mu)
        best = int(np.argmax(means))
        row: dict[str, Any] = {"parameter": parameter, "overall": round(self.mu, 2), "low": None, "high": None}
        if means[best] - self.mu < 0.05:
            return {**row, "liked": "no clear preference", "mean_rating": None, "images": 0}
        keep = means >= self.mu + 0.5 * (means[best] - self.mu)
        lo = hi = best
        while lo > 0 and keep[lo - 1]:
            lo -= 1
        while hi < GRID - 1 and keep[hi + 1]:
            hi += 1
        digits = DIGITS[parameter]
        low, high = round(float(grid[lo]), digits), round(float(grid[hi]), digits)
        values, scores = self._raw[parameter]
        inside = (values >= low) & (values <= high)
        mean = round(float(scores[inside].mean()), 2) if inside.any() else None
        liked = f"{_fmt(low, digits)}–{_fmt(high, digits)}" if low != high else _fmt(low, digits)
        return {**row, "liked": liked, "low": low, "high": high, "mean_rating": mean, "images": int(inside.sum())}

    def _categorical_summary(self, parameter: str) -> dict[str, Any]:
        estimator = self._categorical[parameter]
        ranked = sorted(estimator.counts, key=lambda v: (-estimator.mean(v, self.mu), v))
        liked = [v for v in ranked if estimator.mean(v, self.mu) - self.mu >= 0.05][:3]
        row: dict[str, Any] = {"parameter": parameter, "overall": round(self.mu, 2), "values": liked}
        if not liked:
            return {**row, "liked": "no clear preference", "mean_rating": None, "images": 0}
        n = sum(estimator.counts[v] for v in liked)
        mean = sum(estimator.sums[v] for v in liked) / n
        return {**row, "liked": ", ".join(liked), "mean_rating": round(mean, 2), "images": n}


def fit(columns: Mapping[str, Sequence]) -> TasteModel:
    """Fit the taste of the rated rows given as columns (see the module's contract)."""
    rating = np.asarray(columns.get("rating", ()), dtype=float)
    favorite = np.asarray(columns.get("favorite", np.zeros(len(rating))), dtype=bool)
    scores = np.where(rating > 0, rating, np.where(favorite, UNRATED_FAVORITE, 0.0)) + FAVORITE_BONUS * favorite
    rated = scores > 0
    if not rated.any():
        return TasteModel(0, 0.0, {}, {}, {})
    mu = float(scores[rated].mean())
    numeric, categorical, raw = {}, {}, {}
    for parameter in NUMERIC:
        if columns.get(parameter) is None:
            continue
        values = np.asarray(columns[parameter], dtype=float)
        known = rated & ~np.isnan(values)
        if known.any():
            numeric[parameter] = _fit_numeric(parameter, values[known], scores[known])
            raw[parameter] = (values[known], scores[known])
    for parameter in CATEGORICAL:
        if columns.get(parameter) is not None:
            found = _fit_categorical(columns[parameter], scores, rated)
            if found.counts:
                categorical[parameter] = found
    return TasteModel(int(rated.sum()), mu, numeric, categorical, raw)


def _fit_numeric(parameter: str, values: np.ndarray, scores: np.ndarray) -> _Numeric:
    low, high = float(values.min()), float(values.max())
    width = (high - low) / BINS
    if width <= 0:
        centres, counts, sums = np.array([low]), np.array([float(len(values))]), np.array([float(scores.sum())])
    else:
        index = np.minimum(((values - low) / width).astype(np.int64), BINS - 1)
        counts = np.bincount(index, minlength=BINS).astype(float)
        sums = np.bincount(index, weights=scores, minlength=BINS)
        centres = low + width * (np.arange(BINS) + 0.5)
    silverman = 1.06 * float(values.std()) * len(values) ** -0.2
    bandwidth = max(silverman, MIN_BANDWIDTH[parameter], width)
    return _Numeric(centres, counts, sums, bandwidth, low, high)


def _fit_categorical(values: Iterable, scores: np.ndarray, rated: np.ndarray) -> _Categorical:
    codes: dict[Any, int] = {}
    index = np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype=np.int64, count=len(scores))
    keep = rated & (index != codes.get(None, -1))
    counts = np.bincount(index[keep], minlength=len(codes))
    sums = np.bincount(index[keep], weights=scores[keep], minlength=len(codes))
    return _Categorical({str(v): int(counts[i]) for v, i in codes.items() if v is not None and counts[i]},
                        {str(v): float(sums[i]) for v, i in codes.items() if v is not None and counts[i]})


def why(liked: Iterable[Mapping[str, Any]], parent: Mapping[str, Any], children: Sequence[Mapping[str, Any]],
        leaned: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One row per parameter: the parent's value, the liked region and its mean rating, where the children fell.

    ``parent`` and ``children`` are params dicts (``ImageParams.to_dict()``); ``leaned`` the parameters the taste
    could move (the others are the user's choice, shown for the record)."""
    leaned = set(leaned)
    rows = []
    for row in liked:
        name = row["parameter"]
        values = [_value_of(child, name) for child in children]
        rows.append({"parameter": name, "parent": _show(_value_of(parent, name)), "liked": row["liked"],
                     "liked mean ★": row.get("mean_rating"), "rated images": row.get("images"),
                     "all rated ★": row.get("overall"), "children": _spread(values),
                     "in liked region": _inside(row, values), "leaned": "yes" if name in leaned else "no"})
    return rows


def _value_of(params: Mapping[str, Any], name: str) -> Any:
    if name == "variation_strength":
        chain = params.get("variations") or []
        return chain[-1]["strength"] if chain and isinstance(chain[-1], Mapping) else None
    return params.get(name)


def _spread(values: list) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    if isinstance(known[0], str):
        counts: dict[str, int] = {}
        for v in known:
            counts[v] = counts.get(v, 0) + 1
        return ", ".join(f"{v} ×{c}" for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    low, high, mean = min(known), max(known), sum(known) / len(known)
    return f"{low:g}" if low == high else f"{low:g}–{high:g} (mean {mean:.3g})"


def _inside(row: Mapping[str, Any], values: list) -> str:
    known = [v for v in values if v is not None]
    if not known or row.get("mean_rating") is None:
        return "-"
    if "values" in row:
        hits = sum(1 for v in known if v in row["values"])
    else:
        hits = sum(1 for v in known if row["low"] - 1e-9 <= float(v) <= row["high"] + 1e-9)
    return f"{hits}/{len(known)}"


def _show(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _fmt(value: float, digits: int) -> str:
    return f"{int(value)}" if digits == 0 else f"{value:.{digits}f}"


def sharpness_note() -> str:
    return f"weights ∝ exp(taste × {SHARPNESS:g} × stars above the mean): a one-star better value is " \
           f"{math.exp(SHARPNESS):.0f}× likelier at taste 1"
