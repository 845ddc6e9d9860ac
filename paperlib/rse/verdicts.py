"""RSE's claims (``claims/rse.yaml``) judged on per-image results.

Input format
------------
Everything is per image, so every interval is taken over the test images (what varies); the
notebooks write these tables (CSV) and a later stage reads them back.

``cw`` -- untargeted C&W at fixed c (:meth:`paperlib.rse.evaluation.SweepResult.table`, concatenated
over settings and models): one row per ``(setting, model, c, n, image)`` with columns

    setting        ``cifar10_vgg16``, ``cifar10_resnext`` or ``stl10_model_a`` (the claims' settings)
    model          ``rse``, ``no_defense``, ``adv_retraining``, ``robust_opt_brelu``, ``distill``,
                   ``madry_pgd``, ``train_noise_only``, ``test_noise_only`` (the claims' names; the zoo's
                   are mapped by ``paperlib.rse.zoo.CLAIMS_NAMES``), or a noise-level curve
                   ``noise_<sigma_init>_<sigma_inner>`` (:func:`curve_name`; ``noise_0.2_0.1``, ``noise_0_0``)
    c              the constant (``0`` = no attack)
    n              the ensemble size that judged (1 for a deterministic network)
    image          the test image's id (the same ids across models: comparisons are paired)
    clean_correct  bool, the judge labels the clean image correctly
    adv_correct    bool, the judge labels the C&W output at ``c`` correctly
    l2             float, ``||x_adv - x||_2`` in pixels of [0, 1] (NaN: not attacked)

    Accuracy at ``c`` = ``clean_correct AND adv_correct`` (at ``c = 0``: ``clean_correct``).
    Without an ``n`` named by the claim, a model is judged by its largest ``n`` (the deployed ensemble).

``clean`` -- clean accuracy per ensemble size (:meth:`paperlib.rse.evaluation.EnsembleCurve.table`):
columns ``setting, model, n, image, correct`` (Figure 4 right; the saturation claims).

``targeted`` -- targeted C&W at c = 1 (:meth:`paperlib.rse.evaluation.TargetedResult.table`):
columns ``setting, model, image, target, l2`` (Table 3).

``training`` -- ``{setting: {model: training record}}``, the records
:func:`paperlib.rse.evaluation.training_time_ratio` reads (seconds, a history, the zoo's record of a
network, or ``{run tag: ...}``); ``training_per`` chooses time per network or per image seen.

``n_map`` maps an ensemble size a claim names to the one the profile ran (``{50: 20}`` when the
profile judges with 20 draws); the row's deviations say so. ``aliases`` maps a curve name of a claim to
the model name under which the tables hold it (``{"noise_0.2_0.1": "rse", "noise_0_0": "no_defense"}``:
the RSE network at the default noise is the (0.2, 0.1) curve of Figures 3 and 4, the undefended one
the (0, 0) curve, as the zoo builds them).

Output
------
:func:`evaluate` returns ``(rows, not_run)``: ``rows`` are claims-table rows
(:meth:`paperlib.claims.Claim.evaluate`; a claim measured on several rows gets one row per
comparison and its combined row, :func:`paperlib.claims.combine`), ``not_run`` lists
``{"claim_id", "reason"}`` for every claim whose data the profile did not produce.
:mod:`paperlib.claims` has no verdict for an unmeasured claim (its verdicts are *holds*, *does not
hold*, *inconclusive*), so none is invented: an unmeasured claim gets no verdict row, and the
reason is returned beside the rows. A claim measured on only some of its rows (STL-10 missing from
a two-setting claim) keeps its measured rows; its claim-level row is given only when the measured
rows decide it whatever the missing rows say (a refuted ``all`` claim, a proven ``any`` claim), and
otherwise it is listed in ``not_run`` as partly measured.

Intervals: an accuracy is a proportion over images (Clopper-Pearson); a difference is paired on the
same images (Student-t of the per-image differences); a mean distortion is a t interval over the
clean-correct images; ``best_of`` and ``targeted_distortion_ratio`` are percentile bootstraps over
images (or over (image, target) pairs); ``success_at_distortion`` is the union of a bootstrap over
the clean-correct images (it moves the crossing point) and the Clopper-Pearson interval of the
interpolated rate (a bootstrap has no spread at a rate of 0 or 1); a training-time ratio bootstraps
the epoch times. Each row also carries its interval at the Bonferroni level of the claim's row count
(:func:`paperlib.claims.adjusted_confidence`), which :func:`paperlib.claims.combine` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..claims import Claim, adjusted_confidence, combine, load_claims, load_claims_file, make_claim
from ..metrics.curve_compare import paired_mean_interval
from ..seeding import derive_seed
from ..zoo.accuracy import proportion_interval
from .evaluation import training_time_ratio

KINDS = ("cell", "best_of", "difference", "clean_accuracy", "clean_difference", "figure_difference",
         "ensemble_gain", "saturation", "saturation_difference", "distortion", "distortion_difference",
         "success_at_distortion", "targeted_distortion_ratio", "training_time_ratio")
CW_COLUMNS = ("setting", "model", "c", "n", "image", "clean_correct", "adv_correct", "l2")
CLEAN_COLUMNS = ("setting", "model", "n", "image", "correct")
TARGETED_COLUMNS = ("setting", "model", "image", "target", "l2")


def curve_name(spec) -> str:
    """The model name of a claim's curve: a name as it is, a noise level ``[sigma_init,
    sigma_inner]`` as ``noise_<init>_<inner>`` (``[0.2, 0.1]`` -> ``noise_0.2_0.1``: the zoo's
    name of a Figure 3 level, :func:`paperlib.rse.zoo.noise_level_name`)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and all(isinstance(v, (int, float)) for v in spec):
        return f"noise_{float(spec[0]):g}_{float(spec[1]):g}"
    raise ValueError(f"a curve is a model name or [sigma_init, sigma_inner], got {spec!r}")


class Missing(Exception):
    """The data a row needs is absent; the message says which."""


# ----------------------------------------------------------------------------------------------
# Estimates with intervals at any level
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """An estimate over ``n`` units whose interval can be asked at any confidence level."""

    value: float
    n: int | None
    interval: Callable[[float], tuple[float, float]]
    note: str = ""


def binomial(correct: np.ndarray) -> Estimate:
    a = np.asarray(correct, dtype=bool)
    k, n = int(a.sum()), int(a.size)
    if n == 0:
        raise Missing("no images")
    return Estimate(k / n, n, lambda conf: proportion_interval(k, n, alpha=1 - conf))


def t_mean(values: np.ndarray) -> Estimate:
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        raise Missing(f"{v.size} image(s): a t interval needs two")
    return Estimate(float(v.mean()), int(v.size), lambda conf: paired_mean_interval(v, conf)[1:])


def bootstrap(replicates: np.ndarray, value: float, n: int, note: str = "") -> Estimate:
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise Missing("no bootstrap replicate could be computed")

    def interval(conf):
        a = (1 - conf) / 2
        return float(np.quantile(r, a)), float(np.quantile(r, 1 - a))

    return Estimate(float(value), n, interval, note)


# ----------------------------------------------------------------------------------------------
# Reading the tables
# ----------------------------------------------------------------------------------------------

def _require(df: pd.DataFrame | None, columns: Sequence[str], name: str) -> pd.DataFrame | None:
    if df is None:
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the {name} table lacks columns {missing} (expected {list(columns)})")
    return df


def _same_c(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


class Measurements:
    """Per-image vectors read from the tables of the module docstring, aligned on image ids."""

    def __init__(self, cw: pd.DataFrame | None = None, clean: pd.DataFrame | None = None,
                 targeted: pd.DataFrame | None = None, training: Mapping[str, Mapping[str, Any]] | None = None,
                 n_map: Mapping[int, int] | None = None, aliases: Mapping[str, str] | None = None,
                 training_per: str = "network"):
        def by_model(df, columns, name):
            if df is None:
                return {}
            return dict(iter(_require(df, columns, name).groupby(["setting", "model"], sort=False)))

        self.cw = by_model(cw, CW_COLUMNS, "cw")
        self.clean = by_model(clean, CLEAN_COLUMNS, "clean")
        self.targeted = by_model(targeted, TARGETED_COLUMNS, "targeted")
        self.training = training or {}
        self.training_per = training_per
        self.n_map = dict(n_map or {})
        self.aliases = dict(aliases or {})
        self.notes: list[str] = []

    # -- names --
    def model(self, spec) -> str:
        name = curve_name(spec)
        return self.aliases.get(name, name)

    def _n(self, ns: Sequence[int], requested: int | None, where: str) -> int:
        ns = sorted(int(v) for v in ns)
        if requested is None:
            return ns[-1]
        if int(requested) in ns:  # judged at the size the claim names: no substitute
            return int(requested)
        n = int(self.n_map.get(int(requested), int(requested)))
        if n not in ns:
            raise Missing(f"{where}: no {n}-ensemble judged (have n = {ns})")
        if n != int(requested):
            self.notes.append(f"{requested}-ensemble judged with {n} draws (n_map)")
        return n

    # -- untargeted C&W --
    def _cw(self, setting: str, model) -> pd.DataFrame:
        name = self.model(model)
        if (setting, name) not in self.cw:
            raise Missing(f"no C&W results for {name} in {setting}")
        return self.cw[(setting, name)]

    def _vector(self, g: pd.DataFrame, column: str) -> pd.Series:
        s = g.set_index("image")[column]
        if s.index.has_duplicates:
            raise ValueError(f"{column}: an image appears twice for one (setting, model, c, n)")
        return s.sort_index()

    def clean_vector(self, setting: str, model, n: int | None = None) -> pd.Series:
        """Clean correctness per image (bool Series indexed by image): from the C&W table, else from
        the ensemble-curve table."""
        name = self.model(model)
        if (setting, name) in self.cw:
            g = self.cw[(setting, name)]
            nn_ = self._n(g["n"].unique(), n, f"{name} in {setting}")
            sub = g[g["n"] == nn_]
            first_c = sub["c"].iloc[0]
            return self._vector(sub[sub["c"] == first_c], "clean_correct").astype(bool)
        if (setting, name) in self.clean:
            g = self.clean[(setting, name)]
            nn_ = self._n(g["n"].unique(), n, f"{name} in {setting}")
            return self._vector(g[g["n"] == nn_], "correct").astype(bool)
        raise Missing(f"no results for {name} in {setting}")

    def curve_clean(self, setting: str, model, n: int) -> pd.Series:
        """Clean correctness of the ``n``-ensemble (ensemble-curve table first, then the C&W table)."""
        name = self.model(model)
        if (setting, name) in self.clean:
            g = self.clean[(setting, name)]
            nn_ = self._n(g["n"].unique(), n, f"{name} in {setting}")
            return self._vector(g[g["n"] == nn_], "correct").astype(bool)
        return self.clean_vector(setting, model, n)

    def _cell(self, setting: str, model, c: float, n: int | None) -> pd.DataFrame:
        g = self._cw(setting, model)
        nn_ = self._n(g["n"].unique(), n, f"{self.model(model)} in {setting}")
        g = g[g["n"] == nn_]
        sub = g[np.isclose(g["c"].to_numpy(dtype=float), float(c), rtol=1e-9, atol=1e-12)]
        if sub.empty:
            raise Missing(f"c = {c:g} not swept for {self.model(model)} in {setting} "
                          f"(have c = {sorted(float(v) for v in g['c'].unique())})")
        return sub

    def correct(self, setting: str, model, c: float, n: int | None = None) -> pd.Series:
        """Accuracy indicator per image at ``c``: clean correct AND adversarial correct."""
        if float(c) == 0:
            return self.clean_vector(setting, model, n)
        sub = self._cell(setting, model, c, n)
        return (self._vector(sub, "clean_correct").astype(bool) & self._vector(sub, "adv_correct").astype(bool))

    def distortion(self, setting: str, model, c: float, n: int | None = None) -> pd.Series:
        """L2 distortion per clean-correct image at ``c`` (Series indexed by image)."""
        sub = self._cell(setting, model, c, n)
        clean = self._vector(sub, "clean_correct").astype(bool)
        l2 = self._vector(sub, "l2").astype(float)[clean]
        if l2.isna().any():
            raise ValueError(f"{self.model(model)} in {setting} at c = {c:g}: an image classified correctly "
                             "clean has no distortion (was it attacked?)")
        return l2

    def cs(self, setting: str, model, n: int | None = None) -> list[float]:
        g = self._cw(setting, model)
        nn_ = self._n(g["n"].unique(), n, f"{self.model(model)} in {setting}")
        return sorted(float(v) for v in g[g["n"] == nn_]["c"].unique() if float(v) > 0)

    # -- targeted --
    def targeted_l2(self, setting: str, model) -> pd.Series:
        name = self.model(model)
        if (setting, name) not in self.targeted:
            raise Missing(f"no targeted C&W results for {name} in {setting}")
        g = self.targeted[(setting, name)]
        s = g.set_index(["image", "target"])["l2"].astype(float)
        if s.index.has_duplicates:
            raise ValueError(f"targeted results of {name} in {setting}: an (image, target) pair appears twice")
        return s.sort_index()


def _paired(a: pd.Series, b: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not a.index.equals(b.index):
        raise ValueError(f"{what}: the compared results cover different images (paired comparisons need "
                         f"the same test images; {len(a)} vs {len(b)} images)")
    return a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Row specifications per test kind
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowSpec:
    variant: str
    window: str
    measure: Callable[[], Estimate]


def _setting_of(claim: Claim, tables: Mapping[str, Any]) -> str:
    t = claim.test
    if "setting" in t:
        return t["setting"]
    table = t.get("table")
    if table in tables and tables[table].get("setting"):
        return tables[table]["setting"]
    raise ValueError(f"claims/rse.yaml: claim {claim.claim_id}: its test names no setting")


def _cs_label(cs: Sequence[float]) -> str:
    return "c in [" + ", ".join(f"{float(c):g}" for c in cs) + "]"


def _rng(seed: int, *names) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, "rse", "verdicts", *names))


def _specs(claim: Claim, m: Measurements, tables: Mapping[str, Any], *, replicates: int, seed: int) -> list[RowSpec]:
    t, kind = claim.test, claim.test.get("kind")
    cid = claim.claim_id

    if kind == "cell":
        setting, c = _setting_of(claim, tables), float(t["column"])
        rows = t["rows"] if "rows" in t else [t["row"]]
        return [RowSpec(r if len(rows) > 1 else "", f"c = {c:g}",
                        lambda r=r: binomial(m.correct(setting, r, c).to_numpy())) for r in rows]

    if kind == "best_of":
        setting, c = _setting_of(claim, tables), float(t["column"])

        def best():
            vecs = [m.correct(setting, r, c) for r in t["rows"]]
            for r, v in zip(t["rows"][1:], vecs[1:]):
                _paired(vecs[0], v, f"{cid}: {t['rows'][0]} vs {r}")
            mat = np.stack([v.to_numpy(dtype=np.float64) for v in vecs])   # (rows, N)
            n = mat.shape[1]
            idx = _rng(seed, cid).integers(0, n, size=(replicates, n))
            reps = mat[:, idx].mean(2).max(0)
            best_row = t["rows"][int(mat.mean(1).argmax())]
            return bootstrap(reps, float(mat.mean(1).max()), n, note=f"best: {best_row}")

        return [RowSpec("", f"c = {c:g}", best)]

    if kind == "difference":
        setting = _setting_of(claim, tables)
        return [RowSpec(f"{t['row']}-{a}@c={float(c):g}", f"c = {float(c):g}",
                        lambda a=a, c=c: t_mean(np.subtract(*_paired(m.correct(setting, t["row"], c),
                                                                     m.correct(setting, a, c), cid))))
                for a in t["against"] for c in t["columns"]]

    if kind == "clean_accuracy":
        return [RowSpec("", "no attack", lambda: binomial(m.clean_vector(t["setting"], t["model"]).to_numpy()))]

    if kind == "clean_difference":
        a, b = t["compare"]
        return [RowSpec("", "no attack", lambda: t_mean(np.subtract(*_paired(
            m.clean_vector(t["setting"], a), m.clean_vector(t["setting"], b), cid))))]

    if kind in ("figure_difference", "ensemble_gain"):
        cs = [float(c) for c in t["c"]]
        if kind == "figure_difference":
            pairs = [tuple(t["compare"])] if "compare" in t else [(t["row"], a) for a in t["against"]]
            pairs = [(a, None, b, None) for a, b in pairs]
            settings = t["settings"]
        else:
            model = t.get("model", "rse")
            pairs = [(model, int(t["n"][0]), model, int(t["n"][1]))]
            settings = [t["setting"]]

        def diff(setting, a, na, b, nb, cs_):
            per_c = [np.subtract(*_paired(m.correct(setting, a, c, na), m.correct(setting, b, c, nb), cid))
                     for c in cs_]
            return t_mean(np.mean(per_c, axis=0))

        def label(a, na, b, nb):
            if kind == "ensemble_gain":
                return f"n={na}-n={nb}"
            return f"{curve_name(a)}-{curve_name(b)}"

        specs = []
        for s in settings:
            for a, na, b, nb in pairs:
                lab = label(a, na, b, nb) + (f"@{s}" if len(settings) > 1 else "")
                if t.get("statistic", "mean") == "mean":
                    specs.append(RowSpec(lab, f"mean over {_cs_label(cs)}",
                                         lambda s=s, a=a, na=na, b=b, nb=nb: diff(s, a, na, b, nb, cs)))
                else:
                    specs.extend(RowSpec(f"{lab}@c={c:g}", f"c = {c:g}",
                                         lambda s=s, a=a, na=na, b=b, nb=nb, c=c: diff(s, a, na, b, nb, [c]))
                                 for c in cs)
        if len(specs) == 1:
            specs = [RowSpec("", specs[0].window, specs[0].measure)]
        return specs

    if kind == "saturation":
        model, (n0, n1) = t.get("model", "rse"), t["n"]
        return [RowSpec("", "no attack", lambda: t_mean(np.subtract(*_paired(
            m.curve_clean(t["setting"], model, n0), m.curve_clean(t["setting"], model, n1), cid))))]

    if kind == "saturation_difference":
        (n0, n1), (na, nb) = t["n"], t["noise"]

        def gain(noise):
            hi, lo = _paired(m.curve_clean(t["setting"], noise, n0), m.curve_clean(t["setting"], noise, n1), cid)
            return pd.Series(hi - lo, index=m.curve_clean(t["setting"], noise, n0).index)

        return [RowSpec("", "no attack", lambda: t_mean(np.subtract(*_paired(gain(na), gain(nb), cid))))]

    if kind == "distortion":
        c = float(t["c"])
        return [RowSpec("", f"c = {c:g}",
                        lambda: t_mean(m.distortion(t["setting"], t["model"], c, t.get("n")).to_numpy()))]

    if kind == "distortion_difference":
        cs = [float(c) for c in t["c"]]

        def ddiff(setting, a, cs_):
            per_c = []
            for c in cs_:
                da, db = m.distortion(setting, t["row"], c), m.distortion(setting, a, c)
                both = da.index.intersection(db.index)  # clean-correct for both models
                per_c.append(da[both].to_numpy() - db[both].to_numpy())
            if len({len(p) for p in per_c}) != 1:
                raise ValueError(f"{cid}: the clean-correct images change with c")
            return t_mean(np.mean(per_c, axis=0))

        specs = []
        for s in t["settings"]:
            for a in t["against"]:
                lab = f"{t['row']}-{a}@{s}"
                if t.get("statistic", "each") == "mean":
                    specs.append(RowSpec(lab, f"mean over {_cs_label(cs)}", lambda s=s, a=a: ddiff(s, a, cs)))
                else:
                    specs.extend(RowSpec(f"{lab}@c={c:g}", f"c = {c:g}", lambda s=s, a=a, c=c: ddiff(s, a, [c]))
                                 for c in cs)
        return specs

    if kind == "success_at_distortion":
        target = float(t["distortion"])
        return [RowSpec("", f"mean distortion = {target:g}",
                        lambda: _success_at_distortion(m, t["setting"], t["model"], target, t.get("n"),
                                                       replicates, _rng(seed, cid)))]

    if kind == "targeted_distortion_ratio":
        setting = t.get("setting") or _setting_of(claim, tables)

        def ratio(a):
            ra, rb = _paired(m.targeted_l2(setting, t["row"]), m.targeted_l2(setting, a), cid)
            n = ra.size
            idx = _rng(seed, cid, a).integers(0, n, size=(replicates, n))
            reps = ra[idx].mean(1) / rb[idx].mean(1)
            return bootstrap(reps, float(ra.mean() / rb.mean()), n, note="(image, target) pairs")

        return [RowSpec(f"{t['row']}/{a}", f"targeted, c = {float(t.get('c', 1)):g}", lambda a=a: ratio(a))
                for a in t["against"]]

    if kind == "training_time_ratio":
        a, b = t["compare"]

        def time_ratio():
            records = m.training.get(t["setting"])
            if records is None or a not in records or b not in records:
                raise Missing(f"no training times for {a} and {b} in {t['setting']}")
            r = training_time_ratio(records, a, b, per=m.training_per, bootstrap=replicates,
                                    seed=derive_seed(seed, cid) % 2**32)
            # Re-run the bootstrap at any level: the replicates are deterministic per seed.
            return Estimate(r["ratio"], None,
                            lambda conf: _ratio_interval(records, a, b, conf, replicates, seed, cid, m.training_per),
                            note=f"time per {r['per']}; interval: {r['interval']}")

        return [RowSpec("", "training", time_ratio)]

    raise ValueError(f"claims/rse.yaml: claim {cid}: unknown test kind {kind!r}; known: {list(KINDS)}")


def _ratio_interval(records, a, b, conf, replicates, seed, cid, per) -> tuple[float, float]:
    r = training_time_ratio(records, a, b, per=per, confidence=conf, bootstrap=replicates,
                            seed=derive_seed(seed, cid) % 2**32)
    return r["ci_low"], r["ci_high"]


def _interp_log_c(cs: np.ndarray, dist: np.ndarray, rate: np.ndarray, target: float) -> float:
    """The success rate where the mean distortion first reaches ``target``, linear in log c between
    the grid points that bracket it; NaN when ``target`` lies outside the curve."""
    for i in range(len(cs) - 1):
        d0, d1 = dist[i], dist[i + 1]
        if d0 == target:
            return float(rate[i])
        if (d0 - target) * (d1 - target) < 0:
            lc0, lc1 = math.log(cs[i]), math.log(cs[i + 1])
            lc = lc0 + (target - d0) / (d1 - d0) * (lc1 - lc0)
            return float(rate[i] + (lc - lc0) / (lc1 - lc0) * (rate[i + 1] - rate[i]))
    if dist[-1] == target:
        return float(rate[-1])
    return float("nan")


def _success_at_distortion(m: Measurements, setting: str, model, target: float, n, replicates: int,
                           rng: np.random.Generator) -> Estimate:
    cs = m.cs(setting, model, n)
    if len(cs) < 2:
        raise Missing(f"{m.model(model)} in {setting}: fewer than two c > 0 swept")
    dists, broken = [], []
    for c in cs:
        sub = m._cell(setting, model, c, n)
        clean = m._vector(sub, "clean_correct").astype(bool)
        dists.append(m._vector(sub, "l2").astype(float)[clean].to_numpy())
        broken.append(~m._vector(sub, "adv_correct").astype(bool)[clean].to_numpy())
    d, b = np.stack(dists), np.stack(broken).astype(np.float64)   # (len(cs), N clean-correct)
    if d.shape[1] < 2:
        raise Missing(f"{m.model(model)} in {setting}: {d.shape[1]} image(s) classified correctly clean")
    cs_ = np.asarray(cs)
    value = _interp_log_c(cs_, d.mean(1), b.mean(1), target)
    if math.isnan(value):
        raise Missing(f"{m.model(model)} in {setting}: mean distortion {target:g} lies outside the swept curve "
                      f"({d.mean(1).min():.3g} to {d.mean(1).max():.3g} over c = {cs[0]:g} to {cs[-1]:g})")
    n_img = d.shape[1]
    idx = rng.integers(0, n_img, size=(replicates, n_img))
    reps = np.array([_interp_log_c(cs_, d[:, i].mean(1), b[:, i].mean(1), target) for i in idx])
    dropped = int(np.isnan(reps).sum())
    note = f"{dropped} of {replicates} bootstrap replicates fell outside the swept curve" if dropped else ""
    boot = bootstrap(reps, value, n_img, note)
    k = int(round(value * n_img))

    def interval(conf):
        # The bootstrap covers where the curve crosses the distortion; at a rate of 0 or 1 it has
        # no spread, which the Clopper-Pearson interval of the interpolated rate supplies: the union.
        blo, bhi = boot.interval(conf)
        clo, chi = proportion_interval(k, n_img, alpha=1 - conf)
        return min(blo, clo), max(bhi, chi)

    return Estimate(value, n_img, interval, note)


# ----------------------------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------------------------

def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def evaluate_claim(claim: Claim, m: Measurements, tables: Mapping[str, Any], *, profile: str, deviations: str = "",
                   source: str = "", replicates: int = 2000, seed: int = 0) -> tuple[list[dict], dict | None]:
    """The rows of one claim and, if it could not be judged, its ``{"claim_id", "reason"}``."""
    specs = _specs(claim, m, tables, replicates=replicates, seed=seed)
    level = adjusted_confidence(len(specs))
    measured, missing = [], []
    for spec in specs:
        m.notes = []
        try:
            est = spec.measure()
        except Missing as err:
            missing.append((spec.variant, str(err)))
            continue
        lo, hi = est.interval(0.95)
        adj = est.interval(level) if len(specs) > 1 else (lo, hi)
        dev = _join(deviations, est.note, *dict.fromkeys(m.notes))
        measured.append(claim.evaluate(est.value, lo, hi, profile=profile, deviations=dev, source=source,
                                       variant=spec.variant, adjusted=adj, n=est.n, window=spec.window))
    if not measured:
        reasons = "; ".join(dict.fromkeys(r for _, r in missing))
        return [], {"claim_id": claim.claim_id, "reason": f"not run: {reasons}"}
    if len(specs) == 1:
        return measured, None
    if not missing:
        return measured + [combine(claim, measured)], None
    # Partly measured: a verdict stands only if no missing row could change it.
    missing_txt = "; ".join(dict.fromkeys(r for _, r in missing))
    row = combine(claim, measured)
    decisive = {"all": "does not hold", "any": "holds"}[claim.combine]
    if row["verdict"] == decisive:
        row["deviations"] = _join(row["deviations"], f"{len(missing)} of {len(specs)} rows not run ({missing_txt})")
        return measured + [row], None
    return measured, {"claim_id": claim.claim_id,
                      "reason": f"partly measured ({len(measured)} of {len(specs)} rows): not run: {missing_txt}"}


def table_claims(table: str, spec: Mapping[str, Any]) -> dict[tuple[str, float], Claim]:
    """One claim per printed number of a judged table (Table 2): ``{(row, c): Claim}`` named
    ``<table>:<row>:<c>``, with the table's rule and tolerance."""
    if spec.get("judged", True) is False:
        return {}
    out = {}
    for row in spec["rows"]:
        for col, value in zip(spec["columns"], spec["values"][row]):
            entry = {"statement": f"{spec['what']}: {spec['labels'].get(row, row)}, c = {col:g}: {100 * value:.2f}%",
                     "where": spec["where"], "paper_value": float(value), "rule": spec["rule"],
                     "tolerance": spec["tolerance"], "reason": spec["reason"], "unit": "fraction",
                     "test": {"kind": "cell", "table": table, "row": row, "column": col}}
            out[(row, float(col))] = make_claim("rse", f"{table}:{row}:{col:g}", entry, "claims/rse.yaml")
    return out


def evaluate(*, cw: pd.DataFrame | None = None, clean: pd.DataFrame | None = None,
             targeted: pd.DataFrame | None = None, training: Mapping[str, Mapping[str, Any]] | None = None,
             profile: str, deviations: str = "", source: str = "", n_map: Mapping[int, int] | None = None,
             aliases: Mapping[str, str] | None = None, training_per: str = "network",
             claims: Mapping[str, Claim] | None = None, claims_dir=None, cells: bool = True,
             replicates: int = 2000, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Every claim of ``claims/rse.yaml`` (and, with ``cells``, every judged printed number of its
    tables: Table 2's 25 cells) on the tables of the module docstring. Returns ``(rows, not_run)``.

    ``claims``: evaluate only these (default: all of the file). ``training_per``: ``"network"``
    (the claim's total training time) or ``"image"`` (:func:`~paperlib.rse.evaluation.training_time_ratio`).
    ``replicates``: bootstrap replicates; ``seed`` names the bootstrap streams (rows are identical
    on a rerun)."""
    data = load_claims_file("rse", claims_dir) if claims_dir else load_claims_file("rse")
    tables = data.get("tables") or {}
    if claims is None:
        claims = load_claims("rse", claims_dir) if claims_dir else load_claims("rse")
    m = Measurements(cw, clean, targeted, training, n_map=n_map, aliases=aliases, training_per=training_per)
    todo: list[Claim] = []
    if cells:
        for name, spec in tables.items():
            todo.extend(table_claims(name, spec).values())
    todo.extend(claims.values())
    rows, not_run = [], []
    for claim in todo:
        r, nr = evaluate_claim(claim, m, tables, profile=profile, deviations=deviations, source=source,
                               replicates=replicates, seed=seed)
        rows.extend(r)
        if nr is not None:
            not_run.append(nr)
    return rows, not_run
