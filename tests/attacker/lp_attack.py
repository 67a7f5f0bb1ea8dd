"""The attacker of SDC-3 (docs/release-rules.md), played independently of the pipeline's own audit.

usage: lp_attack.py REPORTS_DIR [--max-reports N] [--protection P] [--value-model M] [--strong]
                    [--explain] [--jobs J]

For every aggregate report (municipality, region, national) listed in REPORTS_DIR/manifest.json
this script writes down, from the specification alone (docs/indicators.md, docs/reports.md, docs/release-rules.md and schemas/indicators.csv),
every linear relation an attacker knows between the counts of that report, takes the published
counts with the error bounds of SDC-4 (a published count c means the true count lies in
[c-4, c+4], never below 0), and asks HiGHS (scipy) for the smallest and the largest value each
hidden count can have. A hidden count whose interval is narrower than the protection level
(default 10, SDC-3) is printed. The code that enforces the release rules is deliberately not
consulted: this is an independent check of its output.

Output: one line `reports=N suppressed_counts=M narrow=K zero_band=Z republished=R`, then one
line per narrow count: `kind period recipient indicator dimension category numerator|denominator
[lo, hi]`. M counts the hidden counts (a count field of a suppressed row, or a NULL count of a
published row) that no other row of the report publishes; R the hidden counts left out because
another row of the same report publishes that very count (the n of a suppressed mean that is
also trajectories_ended, say). Z of the K narrow ones are empty cells: their interval starts
at 0 and, once the counts published as 0 are taken as exactly 0 (SDC-1 publishes no count of
1..T-1 and the perturbation never turns T or more into 0), the count can only be 0 (a share's
hidden numerator of 0 under two end reasons published as 0, say: [0, 8]). Hiding those zeros
is the only way to widen them, and SDC-3 forbids empty complements. They are marked, and
counted as narrow.

Unknowns. One variable per *count concept* per (dimension, category) cell: the same count
published under several indicators (trajectories_ended and the denominator of end_reason_01,
say) is one unknown. The mapping from (indicator, numerator|denominator) to concept is CONCEPTS
below, written from indicators.csv; the script checks that numerator/denominator texts that are
identical in indicators.csv map to one concept.

Bounds. Published count c (status ok or provisional, not NULL): [max(0, c-4), c+4]. A hidden
count lies in [lo, 10^7]: lo = 1 for the count of a count indicator and for the denominator (n)
of a share or statistic, because a zero is published as 0 and never suppressed (a share or mean
over nothing is published with value NULL); lo = 0 for a share's numerator (a zero numerator is
suppressed along with its denominator). With --strong (more than SDC-3 asks for): a published 0
is exactly 0 and a published nonzero count is at least T (the manifest's threshold), since
SDC-1 suppresses 1..T-1 and the perturbation never turns a count of T or more into 0.

Relations (each constraint carries a family name, used by --explain):
  breakdown   counts of trajectories (every concept of unit T below): for each dimension
              hulpvorm, verblijf, verwijzer, age_band, geslacht, the categories present in the
              report sum to the total row (a category a report does not list has no
              trajectories: every indicator of a report lists the same categories).
  nested      counts of trajectories: verblijf zonder_verblijf = hulpvorm 01+02+03+04 and
              met_verblijf = hulpvorm 11+12+13+14.
  children    counts of distinct children (unit C: youths_in_care, repeat_request_share's two
              counts): a child may fall in several categories (several trajectories), so each
              category <= total and the categories sum to >= total; nested likewise:
              each hulpvorm 0x <= zonder_verblijf <= sum of hulpvorm 01..04 (11..14 for met).
  distribution  end_reason_01..05 numerators sum to trajectories ended (their denominator);
              continue_without_help_<informant>_01..04 numerators sum to their denominator
              (that informant's responses); goals_achieved_01..03 and problems_reduced_01..02
              numerators sum to their denominator (the trajectories judged on that question).
  parts       ended_as_planned numerator = end_reason_01 numerator (one concept, see CONCEPTS);
              dropout numerator = end_reason_03 + end_reason_04 numerators; ended_as_planned /
              dropout denominator = end_reason_01 + .. + 04 numerators; started in crisis <=
              started; started with datum_aanmelding (started_within_norm and waiting_days
              denominator) <= started; the responses of an informant, and the trajectories
              judged on goals or on problems, <= ended;
              no_new_start denominator (ended with reason 01-04, linkable children) <= ended
              as planned/dropout denominator; children with a new start (repeat_request
              denominator) <= trajectories started and <= youths in care.
  active      every trajectory started, ended or with a declared amount in the period was
              active in it, and every youth in care has an active trajectory in the cell:
              started, ended, declared_amount_mean's n, youths_in_care <= trajectories active.
  share       every share's numerator <= its denominator.
  value       a published share value v (whole percent). SDC-2 of docs/release-rules.md (rewritten) publishes a
              share as published numerator / published denominator, so with --value-model
              published (default) v constrains the *perturbed* counts p:
              (v-0.5)/100 p_den <= p_num <= (v+0.5)/100 p_den, p being the published constant
              when the count is published and otherwise an unknown within +-4 of the true
              count (a share whose value is published has both counts published today, so this
              is then only a consistency check). --value-model true applies v to the true
              counts instead, as before the rewrite; on current releases that contradicts the
              published figures (infeasible), which is how the rewrite shows.
Equalities across indicators are structural (one variable): see CONCEPTS.

Speed. One sparse LP per report, built once; every solve changes only the objective and starts
from the previous basis (HiGHS as scipy ships it; scipy.optimize.linprog(method="highs") where
that is unavailable, and always for --explain, which needs the duals). Every LP solution is a
feasible point, so the range of values seen for a variable over all solutions so far lies inside
its true interval: a variable whose seen range is already at least the protection level wide
needs no LP of its own, nor does an extreme already seen at the variable's own bound. The
script first minimises and maximises the sum of the hidden counts, then solves max and min per
variable only where still needed. Reports are attacked in parallel (--jobs, default: CPUs).

--max-reports N checks the N/2 reports with the most rows (ties by path) plus a deterministic
sample of the rest (every k-th by path, to N in all); default: every aggregate report.

--explain prints, under each narrow count, the constraints and bounds with a nonzero dual in
its min and max LPs ("pinned by") and the relation families whose removal alone makes it wide.

Exit 1 when some hidden count is narrower than the protection level, 0 when none is, 2 on a
usage or data error (an infeasible LP names the report: the published figures contradict the
relations, so a relation above or the pipeline is wrong; --explain then names the families
whose removal restores feasibility).
"""

import argparse
import csv
import json
import os
import signal
import sys
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp
from scipy.optimize import linprog

UPPER = 10_000_000.0
TOL = 1e-6
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas",
                      "indicators.csv")
AGGREGATE_KINDS = ("municipality", "region", "national")
DIMENSIONS = ("hulpvorm", "verblijf", "verwijzer", "age_band", "geslacht")
# The verblijf categories the reports use, and the hulpvormen each one groups (BIJ v7 code list:
# 01-04 without, 11-14 with residence).
VERBLIJF = {"zonder_verblijf": ("01", "02", "03", "04"), "met_verblijf": ("11", "12", "13", "14")}

# Count concepts: name -> unit. T = trajectories (a trajectory is in exactly one category of each
# dimension: additive); C = distinct children (a child may be in several: super-additive).
UNITS = {
    "active": "T", "youths": "C", "started": "T", "crisis": "T", "ended": "T",
    "repeat_den": "C", "repeat_num": "C", "started_reg": "T", "within_norm": "T",
    "amount_n": "T", "r1": "T", "r2": "T", "r3": "T", "r4": "T", "r5": "T",
    "planned_den": "T", "dropout": "T",
    "sat_resp_youth": "T", "sat7_youth": "T", "sat_resp_parent": "T", "sat7_parent": "T",
    "cwh_resp_youth": "T", "cwh_resp_parent": "T",
    "cwh_youth_1": "T", "cwh_youth_2": "T", "cwh_youth_3": "T", "cwh_youth_4": "T",
    "cwh_parent_1": "T", "cwh_parent_2": "T", "cwh_parent_3": "T", "cwh_parent_4": "T",
    "nns_den": "T", "nns_num": "T",
    "goals_resp": "T", "goals_1": "T", "goals_2": "T", "goals_3": "T",
    "problems_resp": "T", "problems_1": "T", "problems_2": "T",
}

# (indicator, field) -> concept. Every equality across indicators is written here, as one
# concept shared by several (indicator, field) pairs.
CONCEPTS = {
    ("youths_in_care", "numerator"): "youths",
    ("trajectories_active", "numerator"): "active",
    ("trajectories_started", "numerator"): "started",
    ("trajectories_started_in_crisis", "numerator"): "crisis",
    # Trajectories ended in the period: the count, the n of both duration statistics, the
    # denominator of the five end reasons and of the four response shares.
    ("trajectories_ended", "numerator"): "ended",
    ("duration_days_mean", "denominator"): "ended",
    ("duration_days_median", "denominator"): "ended",
    ("end_reason_01", "denominator"): "ended",
    ("end_reason_02", "denominator"): "ended",
    ("end_reason_03", "denominator"): "ended",
    ("end_reason_04", "denominator"): "ended",
    ("end_reason_05", "denominator"): "ended",
    ("satisfaction_response_share_youth", "denominator"): "ended",
    ("satisfaction_response_share_parent", "denominator"): "ended",
    ("continue_without_help_response_share_youth", "denominator"): "ended",
    ("continue_without_help_response_share_parent", "denominator"): "ended",
    ("goals_response_share", "denominator"): "ended",
    ("problems_response_share", "denominator"): "ended",
    # Distinct children with a new start, and those of them with an earlier trajectory.
    ("repeat_request_share", "denominator"): "repeat_den",
    ("repeat_request_share", "numerator"): "repeat_num",
    # Trajectories started in the period with datum_aanmelding: the n of the waiting-time
    # median is the denominator of started_within_norm_share.
    ("waiting_days_median", "denominator"): "started_reg",
    ("started_within_norm_share", "denominator"): "started_reg",
    ("started_within_norm_share", "numerator"): "within_norm",
    ("declared_amount_mean", "denominator"): "amount_n",
    # End reasons; ended_as_planned's numerator is the trajectories with reason 01.
    ("end_reason_01", "numerator"): "r1",
    ("ended_as_planned_share", "numerator"): "r1",
    ("end_reason_02", "numerator"): "r2",
    ("end_reason_03", "numerator"): "r3",
    ("end_reason_04", "numerator"): "r4",
    ("end_reason_05", "numerator"): "r5",
    # Ended with reason 01-04: the one denominator of ended_as_planned and dropout.
    ("ended_as_planned_share", "denominator"): "planned_den",
    ("dropout_share", "denominator"): "planned_den",
    ("dropout_share", "numerator"): "dropout",
    # Satisfaction per informant: the responses are the response share's numerator, the n of
    # the mean and the denominator of the 7-or-more share.
    ("satisfaction_response_share_youth", "numerator"): "sat_resp_youth",
    ("satisfaction_mean_youth", "denominator"): "sat_resp_youth",
    ("satisfaction_7plus_share_youth", "denominator"): "sat_resp_youth",
    ("satisfaction_7plus_share_youth", "numerator"): "sat7_youth",
    ("satisfaction_response_share_parent", "numerator"): "sat_resp_parent",
    ("satisfaction_mean_parent", "denominator"): "sat_resp_parent",
    ("satisfaction_7plus_share_parent", "denominator"): "sat_resp_parent",
    ("satisfaction_7plus_share_parent", "numerator"): "sat7_parent",
    # Continue-without-help per informant: the responses are the response share's numerator
    # and the denominator of the four answers.
    ("continue_without_help_response_share_youth", "numerator"): "cwh_resp_youth",
    ("continue_without_help_response_share_parent", "numerator"): "cwh_resp_parent",
    ("no_new_start_share", "denominator"): "nns_den",
    ("no_new_start_share", "numerator"): "nns_num",
    # Goal attainment (doelrealisatie): the trajectories judged are the response share's
    # numerator and the denominator of each answer, per question.
    ("goals_response_share", "numerator"): "goals_resp",
    ("problems_response_share", "numerator"): "problems_resp",
}
for _inf in ("youth", "parent"):
    for _k in range(1, 5):
        CONCEPTS[(f"continue_without_help_{_inf}_0{_k}", "denominator")] = f"cwh_resp_{_inf}"
        CONCEPTS[(f"continue_without_help_{_inf}_0{_k}", "numerator")] = f"cwh_{_inf}_{_k}"
for _k in range(1, 4):
    CONCEPTS[(f"goals_achieved_0{_k}", "denominator")] = "goals_resp"
    CONCEPTS[(f"goals_achieved_0{_k}", "numerator")] = f"goals_{_k}"
for _k in range(1, 3):
    CONCEPTS[(f"problems_reduced_0{_k}", "denominator")] = "problems_resp"
    CONCEPTS[(f"problems_reduced_0{_k}", "numerator")] = f"problems_{_k}"

# Which fields of a row are counts, by the indicator's kind (docs/reports.md).
COUNT_FIELDS = {"count": ("numerator",), "share": ("numerator", "denominator"),
                "statistic": ("denominator",)}


class DataError(Exception):
    pass


def load_indicators():
    with open(SCHEMA, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kinds = {r["code"]: r["kind"] for r in rows}
    # Identical numerator/denominator texts must be one concept (the script's equalities are at
    # least those indicators.csv states by wording).
    # A numerator "... of the denominator ..." is read together with its denominator's concept.
    by_text = defaultdict(set)
    for r in rows:
        for field in COUNT_FIELDS[r["kind"]]:
            key = (r["code"], field)
            if key not in CONCEPTS:
                raise DataError(f"indicators.csv: no concept for {key}; extend CONCEPTS")
        for field in COUNT_FIELDS[r["kind"]]:
            text = r[field]
            if "of the denominator" in text:
                text = (text, CONCEPTS[(r["code"], "denominator")])
            by_text[text].add(CONCEPTS[(r["code"], field)])
    for text, concepts in by_text.items():
        if len(concepts) > 1:
            raise DataError(f"indicators.csv: '{text}' maps to several concepts {concepts}")
    return kinds


class Model:
    """The attacker's LP for one report."""

    def __init__(self, value_model):
        self.value_model = value_model
        self.index = {}  # key -> column
        self.lb = []
        self.ub = []
        self.lb_why = []
        self.ub_why = []
        self.ub_rows = []  # (family, description, {col: coef}, rhs)   sum <= rhs
        self.eq_rows = []  # (family, description, {col: coef}, rhs)   sum == rhs
        self.published_zero = set()  # columns of counts published as 0

    def var(self, key):
        if key not in self.index:
            self.index[key] = len(self.lb)
            self.lb.append(0.0)
            self.ub.append(UPPER)
            self.lb_why.append("nonnegative")
            self.ub_why.append("upper bound 1e7")
        return self.index[key]

    def tighten(self, col, lo, hi, why):
        if lo > self.lb[col]:
            self.lb[col], self.lb_why[col] = lo, why
        if hi < self.ub[col]:
            self.ub[col], self.ub_why[col] = hi, why

    def le(self, family, desc, terms, rhs=0.0):
        self.ub_rows.append((family, desc, terms, rhs))

    def eq(self, family, desc, terms, rhs=0.0):
        self.eq_rows.append((family, desc, terms, rhs))

    def matrices(self, drop=()):
        n = len(self.lb)
        out = []
        for rows in (self.ub_rows, self.eq_rows):
            keep = [r for r in rows if r[0] not in drop]
            data, ri, ci, rhs = [], [], [], []
            for i, (_, _, terms, b) in enumerate(keep):
                for c, v in terms.items():
                    if v != 0:
                        ri.append(i)
                        ci.append(c)
                        data.append(v)
                rhs.append(b)
            if keep:
                out.append((sp.csr_matrix((data, (ri, ci)), shape=(len(keep), n)),
                            np.array(rhs), keep))
            else:
                out.append((None, None, keep))
        return out


def cell_name(key):
    if key[0] == "pub":  # the perturbed count behind a published share value
        _, ind, field, dim, cat = key
        return f"published {ind}.{field}[{dim}={cat}]"
    concept, dim, cat = key
    return f"{concept}[{dim}={cat}]" if dim != "total" else f"{concept}[total]"


def build(rows, kinds, value_model, threshold=None):
    """The LP of one report and its hidden counts [(row, field, column)]."""
    m = Model(value_model)
    hidden = []
    published = set()
    cells = defaultdict(set)  # concept -> {(dim, cat)}
    categories = defaultdict(set)  # dim -> {cat}
    for r in rows:
        ind, dim, cat, status = r["indicator"], r["dimension"], r["category"], r["status"]
        if ind not in kinds:
            raise DataError(f"unknown indicator {ind}")
        kind = kinds[ind]
        if dim != "total":
            categories[dim].add(cat)
        suppressed = status == "suppressed"
        if status not in ("ok", "provisional", "suppressed"):
            raise DataError(f"unknown status {status}")
        cols = {}
        for field in COUNT_FIELDS[kind]:
            concept = CONCEPTS[(ind, field)]
            key = (concept, dim, cat)
            col = m.var(key)
            cols[field] = col
            cells[concept].add((dim, cat))
            c = r[field]
            if c is not None and not suppressed:
                if c < 0:
                    raise DataError(f"negative count {ind} {dim} {cat} {field}")
                if c == 0:
                    m.published_zero.add(col)
                if threshold is None:
                    m.tighten(col, max(0.0, c - 4.0), c + 4.0,
                              f"published {ind}.{field}={c} (+-4)")
                elif c == 0:
                    m.tighten(col, 0.0, 0.0, f"published {ind}.{field}=0 (exact, --strong)")
                else:
                    m.tighten(col, max(threshold, c - 4.0), c + 4.0,
                              f"published {ind}.{field}={c} (+-4, >= T, --strong)")
                if m.lb[col] > m.ub[col] + TOL:
                    raise DataError(f"{cell_name(key)}: published counts of several indicators "
                                    f"are more than 8 apart")
                published.add(col)
            else:
                # A zero count is published; a hidden count of a count indicator, or a hidden
                # denominator, is therefore at least 1. A share's numerator may be 0.
                lo = 0.0 if (kind == "share" and field == "numerator") else 1.0
                m.tighten(col, lo, UPPER, f"hidden {ind}.{field} (>= {int(lo)})")
                hidden.append((r, field, col))
        # Every share's numerator is at most its denominator.
        if kind == "share":
            m.le("share", f"{ind}[{dim}={cat}]: numerator <= denominator",
                 {cols["numerator"]: 1.0, cols["denominator"]: -1.0})
        # A published share value (whole percent).
        if kind == "share" and r["value"] is not None and not suppressed:
            add_value(m, r, cols)
    add_relations(m, cells, categories)
    # A count hidden in one row but published in another row of the report (the n of a
    # suppressed mean that is also trajectories_ended, say) is not secret: it is left out.
    secret = [h for h in hidden if h[2] not in published]
    return m, secret, len(hidden) - len(secret)


def add_value(m, r, cols):
    v = float(r["value"])
    ind, dim, cat = r["indicator"], r["dimension"], r["category"]
    hi, lo = (v + 0.5) / 100.0, (v - 0.5) / 100.0
    desc = f"{ind}[{dim}={cat}] value {v:g}%"
    if m.value_model == "true":
        n, d = cols["numerator"], cols["denominator"]
        m.le("value", desc + " (true counts): num <= hi*den", {n: 1.0, d: -hi})
        m.le("value", desc + " (true counts): lo*den <= num", {n: -1.0, d: lo})
        return
    # SDC-2: value = published num / published den. A published count is a constant; a
    # hidden one an unknown within +-4 of the true count.
    p = {}
    for field in ("numerator", "denominator"):
        c = r[field]
        if c is not None:
            p[field] = float(c)
        else:
            col = m.var(("pub", r["indicator"], field, dim, cat))
            true = cols[field]
            m.le("value", f"{desc}: published {field} <= true + 4", {col: 1.0, true: -1.0}, 4.0)
            m.le("value", f"{desc}: true {field} <= published + 4", {true: 1.0, col: -1.0}, 4.0)
            p[field] = col
    if all(isinstance(x, float) for x in p.values()):
        num, den = p["numerator"], p["denominator"]
        if den > 0 and not (lo * den - TOL <= num <= hi * den + TOL):
            raise DataError(f"{desc} disagrees with its published counts {num:g}/{den:g}")
        return
    terms_hi, terms_lo, rhs_hi, rhs_lo = {}, {}, 0.0, 0.0
    for field, sign_hi, sign_lo, coef_hi, coef_lo in (
            ("numerator", 1.0, -1.0, 1.0, 1.0), ("denominator", -1.0, 1.0, hi, lo)):
        x = p[field]
        if isinstance(x, float):
            rhs_hi -= sign_hi * coef_hi * x
            rhs_lo -= sign_lo * coef_lo * x
        else:
            terms_hi[x] = terms_hi.get(x, 0.0) + sign_hi * coef_hi
            terms_lo[x] = terms_lo.get(x, 0.0) + sign_lo * coef_lo
    m.le("value", desc + ": p_num <= hi*p_den", terms_hi, rhs_hi)
    m.le("value", desc + ": lo*p_den <= p_num", terms_lo, rhs_lo)


def add_relations(m, cells, categories):
    col = m.index

    def c(concept, dim, cat):
        return col.get((concept, dim, cat))

    # Breakdowns.
    for concept, present in cells.items():
        total = c(concept, "total", "total")
        unit = UNITS[concept]
        for dim in DIMENSIONS:
            cats = sorted(cat for (d, cat) in present if d == dim)
            if not cats or total is None:
                continue
            parts = [c(concept, dim, cat) for cat in cats]
            if unit == "T":
                # Every category the report lists for this dimension must be a variable here
                # (a missing one would be an unknown, not a zero).
                if set(cats) != categories[dim]:
                    continue
                terms = {p: 1.0 for p in parts}
                terms[total] = -1.0
                m.eq("breakdown", f"{concept}: sum over {dim} = total", terms)
            else:
                for cat, p in zip(cats, parts):
                    m.le("children", f"{concept}[{dim}={cat}] <= total", {p: 1.0, total: -1.0})
                if set(cats) == categories[dim]:
                    terms = {p: -1.0 for p in parts}
                    terms[total] = 1.0
                    m.le("children", f"{concept}: sum over {dim} >= total", terms)
        # Nested: verblijf over hulpvorm.
        for group, codes in VERBLIJF.items():
            whole = c(concept, "verblijf", group)
            listed = [h for h in codes if h in categories["hulpvorm"]]
            hv = [c(concept, "hulpvorm", h) for h in listed]
            if whole is None or any(x is None for x in hv):
                continue
            if unit == "T":
                terms = {x: 1.0 for x in hv}
                terms[whole] = -1.0
                m.eq("nested", f"{concept}: {group} = hulpvorm {'+'.join(listed)}", terms)
            else:
                for h, x in zip(listed, hv):
                    m.le("children", f"{concept}[hulpvorm={h}] <= {group}", {x: 1.0, whole: -1.0})
                terms = {x: -1.0 for x in hv}
                terms[whole] = 1.0
                m.le("children", f"{concept}: {group} <= sum hulpvorm {'+'.join(listed)}", terms)

    # Relations within one (dimension, category) cell, where both sides exist.
    all_cells = set()
    for present in cells.values():
        all_cells |= present
    for dim, cat in sorted(all_cells):
        def v(concept):
            return c(concept, dim, cat)

        where = f"[{dim}={cat}]"

        def rel(family, kind, desc, lhs, rhs):
            """lhs (list of (concept, coef)) kind ('=' or '<=') rhs (list of concepts)."""
            terms = {}
            for concept, coef in lhs:
                x = v(concept)
                if x is None:
                    return
                terms[x] = terms.get(x, 0.0) + coef
            for concept in rhs:
                x = v(concept)
                if x is None:
                    return
                terms[x] = terms.get(x, 0.0) - 1.0
            (m.eq if kind == "=" else m.le)(family, desc + where, terms)

        # Distributions.
        rel("distribution", "=", "end_reason_01..05 sum to ended",
            [(f"r{k}", 1.0) for k in range(1, 6)], ["ended"])
        for inf in ("youth", "parent"):
            rel("distribution", "=", f"continue_without_help_{inf}_01..04 sum to responses",
                [(f"cwh_{inf}_{k}", 1.0) for k in range(1, 5)], [f"cwh_resp_{inf}"])
        rel("distribution", "=", "goals_achieved_01..03 sum to responses",
            [(f"goals_{k}", 1.0) for k in range(1, 4)], ["goals_resp"])
        rel("distribution", "=", "problems_reduced_01..02 sum to responses",
            [(f"problems_{k}", 1.0) for k in range(1, 3)], ["problems_resp"])
        # Parts.
        rel("parts", "=", "dropout = reason 03 + 04", [("r3", 1.0), ("r4", 1.0)], ["dropout"])
        rel("parts", "=", "ended_as_planned/dropout denominator = reasons 01..04",
            [(f"r{k}", 1.0) for k in range(1, 5)], ["planned_den"])
        rel("parts", "<=", "started in crisis <= started", [("crisis", 1.0)], ["started"])
        rel("parts", "<=", "started with aanmelding <= started",
            [("started_reg", 1.0)], ["started"])
        rel("parts", "<=", "started within norm <= started with aanmelding",
            [("within_norm", 1.0)], ["started_reg"])
        for inf in ("youth", "parent"):
            rel("parts", "<=", f"satisfaction responses {inf} <= ended",
                [(f"sat_resp_{inf}", 1.0)], ["ended"])
            rel("parts", "<=", f"continue-without-help responses {inf} <= ended",
                [(f"cwh_resp_{inf}", 1.0)], ["ended"])
        for question in ("goals", "problems"):
            rel("parts", "<=", f"{question} responses <= ended",
                [(f"{question}_resp", 1.0)], ["ended"])
        rel("parts", "<=", "no_new_start denominator <= ended with reason 01..04",
            [("nns_den", 1.0)], ["planned_den"])
        rel("parts", "<=", "children with a new start <= trajectories started",
            [("repeat_den", 1.0)], ["started"])
        rel("parts", "<=", "children with a new start <= youths in care",
            [("repeat_den", 1.0)], ["youths"])
        # Active in the period.
        for concept in ("started", "ended", "amount_n", "youths"):
            rel("active", "<=", f"{concept} <= trajectories active",
                [(concept, 1.0)], ["active"])


def solve(m, objective, mats, sense, ub=None):
    """One LP with scipy.optimize.linprog (HiGHS), duals included; `ub` replaces the
    model's upper bounds."""
    (aub, bub, _), (aeq, beq, _) = mats
    cvec = np.zeros(len(m.lb))
    for col, coef in objective.items():
        cvec[col] = coef * (1.0 if sense == "min" else -1.0)
    return linprog(cvec, A_ub=aub, b_ub=bub, A_eq=aeq, b_eq=beq,
                   bounds=np.column_stack([m.lb, m.ub if ub is None else ub]), method="highs")


class Solver:
    """The report's LP, built once; each solve only changes the objective.

    It keeps one HiGHS instance (the one scipy ships, scipy.optimize._highspy) so that every
    solve starts from the previous basis, which is several times faster than a fresh linprog
    call; where that module is missing (another scipy), it falls back to linprog."""

    def __init__(self, m):
        self.m = m
        self.n = len(m.lb)
        self.mats = m.matrices()
        self.highs = None
        self.cost = np.zeros(self.n)
        try:
            from scipy.optimize._highspy import _core
            self.core = _core
            self.highs = self._build_highs()
        except (ImportError, AttributeError, TypeError):
            self.highs = None

    def _build_highs(self):
        core = self.core
        (aub, bub, _), (aeq, beq, _) = self.mats
        blocks, lower, upper = [], [], []
        if aub is not None:
            blocks.append(aub)
            lower.append(np.full(aub.shape[0], -core.kHighsInf))
            upper.append(bub)
        if aeq is not None:
            blocks.append(aeq)
            lower.append(beq)
            upper.append(beq)
        a = sp.vstack(blocks).tocsc() if blocks else sp.csc_matrix((0, self.n))
        lp = core.HighsLp()
        lp.num_col_ = self.n
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.array(self.m.lb, dtype=float)
        lp.col_upper_ = np.array(self.m.ub, dtype=float)
        lp.row_lower_ = np.concatenate(lower) if lower else np.zeros(0)
        lp.row_upper_ = np.concatenate(upper) if upper else np.zeros(0)
        lp.a_matrix_.format_ = core.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        lp.a_matrix_.num_col_ = self.n
        lp.a_matrix_.num_row_ = a.shape[0]
        h = core._Highs()
        h.setOptionValue("output_flag", False)
        # Only the objective changes between solves, so the last basis stays primal feasible:
        # primal simplex from it is the quickest way to the next optimum.
        h.setOptionValue("simplex_strategy", 4)
        h.passModel(lp)
        return h

    def solve(self, objective, sense):
        """(status, x): status 'optimal', 'infeasible' or a message."""
        if self.highs is None:
            res = solve(self.m, objective, self.mats, sense)
            if res.status == 0:
                return "optimal", res.x
            return ("infeasible" if res.status == 2 else res.message), None
        cost = np.zeros(self.n)
        for col, coef in objective.items():
            cost[col] = coef * (1.0 if sense == "min" else -1.0)
        changed = np.nonzero(cost != self.cost)[0].astype(np.int32)
        if len(changed):
            self.highs.changeColsCost(len(changed), changed, cost[changed])
            self.cost = cost
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == self.core.HighsModelStatus.kOptimal:
            return "optimal", np.array(self.highs.getSolution().col_value)
        if status == self.core.HighsModelStatus.kInfeasible:
            return "infeasible", None
        return self.highs.modelStatusToString(status), None


def attack(m, hidden, protection, explain):
    """The narrow hidden counts [(row, field, col, lo, hi)]; raises DataError when the LP is
    infeasible."""
    n = len(m.lb)
    targets = sorted({col for (_, _, col) in hidden})
    if not targets:
        return []
    solver = Solver(m)
    lb = np.array(m.lb)
    ub = np.array(m.ub)
    seen_lo = np.full(n, np.inf)
    seen_hi = np.full(n, -np.inf)

    def run(objective, sense):
        status, x = solver.solve(objective, sense)
        if status == "infeasible":
            raise DataError("infeasible: the published figures contradict the relations"
                            + (": " + diagnose(m) if explain else " (rerun with --explain)"))
        if status != "optimal":
            raise DataError(f"LP failed: {status}")
        np.minimum(seen_lo, x, out=seen_lo)
        np.maximum(seen_hi, x, out=seen_hi)
        return x

    # Feasible points pushing every hidden count down, then up.
    everything = {col: 1.0 for col in targets}
    run(everything, "min")
    run(everything, "max")
    narrow_cols = {}
    for col in targets:
        if seen_hi[col] - seen_lo[col] >= protection - TOL:
            continue
        # A seen value at a variable's own bound is its exact extreme: no LP needed.
        hi = ub[col] if seen_hi[col] >= ub[col] - TOL else run({col: 1.0}, "max")[col]
        if hi - seen_lo[col] >= protection - TOL:
            continue
        lo = lb[col] if seen_lo[col] <= lb[col] + TOL else run({col: 1.0}, "min")[col]
        if hi - lo < protection - TOL:
            narrow_cols[col] = (lo, hi, lo <= TOL and empty(m, solver.mats, col))
    return [(r, field, col) + narrow_cols[col] for r, field, col in hidden
            if col in narrow_cols]


def empty(m, mats, col):
    """Whether the hidden count `col` is 0 in every point once the counts published as 0 are
    taken as exactly 0: SDC-1 publishes no count of 1..T-1 and the perturbation never turns a
    count of T or more into 0, so a published 0 is exact, and so is this count: an empty cell.
    Its interval can only be widened by hiding those zeros, and SDC-3 forbids empty
    complements."""
    ub = np.array(m.ub)
    ub[list(m.published_zero)] = 0.0
    res = solve(m, {col: 1.0}, mats, "max", ub)
    return res.status == 0 and res.x[col] <= TOL


def diagnose(m):
    families = sorted({r[0] for r in m.ub_rows + m.eq_rows})
    found = []
    for fam in families:
        mats = m.matrices(drop=(fam,))
        if solve(m, {}, mats, "min").status == 0:
            found.append(fam)
    return ("feasible without family " + " or ".join(found)) if found else \
        "no single relation family explains it (or the count bounds contradict each other)"


def explain_narrow(m, col, protection):
    """Why a hidden count is narrow: the constraints and bounds with a nonzero dual in its min
    and max LPs, and the relation families without which it would be wide."""
    mats = m.matrices()
    (_, _, ub_keep), (_, _, eq_keep) = mats
    names = {v: k for k, v in m.index.items()}
    lines = []
    for sense in ("min", "max"):
        res = solve(m, {col: 1.0}, mats, sense)
        binding = []
        for rows, marg in ((ub_keep, res.ineqlin.marginals), (eq_keep, res.eqlin.marginals)):
            for row, d in zip(rows, marg if marg is not None else []):
                if abs(d) > 1e-9:
                    binding.append(f"{row[0]}: {row[1]}")
        for j, d in enumerate(res.lower.marginals):
            if abs(d) > 1e-9:
                binding.append(f"bound {cell_name(names[j])} >= {m.lb[j]:g} ({m.lb_why[j]})")
        for j, d in enumerate(res.upper.marginals):
            if abs(d) > 1e-9:
                binding.append(f"bound {cell_name(names[j])} <= {m.ub[j]:g} ({m.ub_why[j]})")
        lines.append(f"    {sense} pinned by: " + "; ".join(binding))
    needed = []
    for fam in sorted({r[0] for r in m.ub_rows + m.eq_rows}):
        mats = m.matrices(drop=(fam,))
        lo = solve(m, {col: 1.0}, mats, "min")
        hi = solve(m, {col: 1.0}, mats, "max")
        if lo.status == 0 and hi.status == 0 and hi.x[col] - lo.x[col] >= protection - TOL:
            needed.append(f"{fam} (width without it {hi.x[col] - lo.x[col]:g})")
    lines.append("    wide again without: " + (", ".join(needed) if needed else
                                                 "no single family"))
    return lines


def choose(files, limit):
    files = sorted(files, key=lambda f: f["path"])
    if limit is None or limit >= len(files):
        return files
    largest = sorted(files, key=lambda f: (-int(f.get("rows", 0)), f["path"]))[: limit // 2]
    chosen = {f["path"] for f in largest}
    rest = [f for f in files if f["path"] not in chosen]
    want = limit - len(largest)
    if want > 0 and rest:
        step = max(1, len(rest) // want)
        largest += rest[::step][:want]
    return sorted(largest, key=lambda f: f["path"])


def check_report(job):
    """Attack one report: (hidden counts, republished counts, output lines) or an error."""
    reports, entry, kinds, args, threshold = job
    where = f"{entry['kind']} {entry['period']} {entry.get('recipient')}"
    try:
        rows = pq.read_table(os.path.join(reports, entry["path"])).to_pylist()
        m, hidden, elsewhere = build(rows, kinds, args.value_model, threshold)
        narrow = attack(m, hidden, args.protection, args.explain)
    except (DataError, OSError, KeyError, ValueError) as e:
        return None, f"{entry['path']} ({where}): {e}"
    out = []
    explained = set()
    for r, field, col, lo, hi, zero in narrow:
        tag = "  (zero band: exactly 0 by the counts published as 0)" if zero else ""
        out.append((f"{where} {r['indicator']} {r['dimension']} {r['category']} "
                    f"{field} [{max(lo, 0.0):.2f}, {hi:.2f}]{tag}", bool(tag)))
        if args.explain and col not in explained:
            explained.add(col)
            out.extend((line, None) for line in explain_narrow(m, col, args.protection))
    return (len(hidden), elsewhere, out), None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports")
    ap.add_argument("--max-reports", type=int, default=None,
                    help="the N/2 largest reports plus a deterministic sample (default all)")
    ap.add_argument("--protection", type=float, default=10.0)
    ap.add_argument("--value-model", choices=("published", "true"), default="published")
    ap.add_argument("--explain", action="store_true",
                    help="for each narrow count, name the binding constraints and families")
    ap.add_argument("--strong", action="store_true",
                    help="a stronger attacker than SDC-3 asks for: a published 0 is exact and "
                         "a published nonzero count is at least T (manifest config threshold), "
                         "since SDC-1 suppresses 1..T-1")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="reports attacked in parallel (default: the number of CPUs)")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        kinds = load_indicators()
        with open(os.path.join(args.reports, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        files = [f for f in manifest["files"] if f["kind"] in AGGREGATE_KINDS]
        if args.max_reports is not None and args.max_reports < 1:
            raise DataError("--max-reports must be at least 1")
        files = choose(files, args.max_reports)
    except (DataError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    threshold = None
    if args.strong:
        threshold = float((manifest.get("config") or {}).get("threshold") or 10)
    jobs = [(args.reports, entry, kinds, args, threshold) for entry in files]
    if args.jobs > 1 and len(jobs) > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            results = pool.map(check_report, jobs, chunksize=4)
    else:
        results = [check_report(job) for job in jobs]
    errors = [err for _, err in results if err]
    if errors:
        for err in errors:
            print(f"error: {err}", file=sys.stderr)
        return 2
    hidden = sum(res[0] for res, _ in results)
    elsewhere = sum(res[1] for res, _ in results)
    lines = [line for res, _ in results for line in res[2]]
    narrow = sum(1 for _, zero in lines if zero is not None)
    zero = sum(1 for _, z in lines if z)
    print(f"reports={len(files)} suppressed_counts={hidden} narrow={narrow} "
          f"zero_band={zero} republished={elsewhere}")
    for line, _ in lines:
        print(line)
    return 1 if narrow else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
