"""Compiled loops for the engine's hottest monthly stages (Numba).

Each function here does, in one pass over the households, what a stage of
:class:`onward.engine.model.Engine` would otherwise do in a few dozen NumPy array
operations. The random numbers are still drawn by the stage, from its own NumPy stream, and
passed in, so a run consumes exactly the numbers it consumed before and the stage's
arithmetic is written in the same order and precision (float32 where the agent columns are
float32): the outputs are the NumPy expressions', element for element.
"""

from __future__ import annotations

import numpy as np
from numba import njit

F32 = np.float32


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _max(a, b):  # pragma: no cover - compiled
    """``np.maximum`` for scalars: NaN if either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a >= b else b


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _min(a, b):  # pragma: no cover - compiled
    """``np.minimum`` for scalars: NaN if either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a <= b else b


#: the month's parameters :func:`integration` reads, in the order of its ``p`` vector
INTEGRATION_PARAMS = (
    "resettlement.support_months", "integration.potential_base",
    "integration.potential_slope", "integration.job_finding_rate",
    "integration.skill_job_effect", "integration.hiring_discrimination",
    "integration.job_loss_rate", "integration.wage_discrimination",
    "integration.glass_ceiling", "integration.welfare_income",
    "integration.discrimination_memory", "integration.discrimination_rate",
    "integration.savings_rate", "integration.subsistence", "aspiration.w_frustration",
    "aspiration.w_discrimination", "aspiration.w_unemployment", "aspiration.w_deprivation",
    "resettlement.support_relief", "aspiration.satisfaction_income",
    "aspiration.satisfaction_support", "aspiration.satisfaction_discrimination",
)


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def integration_rates(skill, capability, p):  # pragma: no cover - compiled
    """Each household's chance to find a job, wage and frustrated mobility under ``p``.

    They depend on fixed traits and the month's parameters only, so the engine computes
    them once for every household and again only in a month whose parameters changed.
    """
    n = skill.size
    p_find = np.empty(n, np.float32)
    wage = np.empty(n, np.float32)
    frustration = np.empty(n, np.float32)
    base, slope = F32(p[1]), F32(p[2])
    f = min(max(p[3], 1e-9), 1 - 1e-9)
    odds0, skill_effect = F32(f / (1 - f)), F32(p[4])
    hire = F32(1 - p[5])
    wage_keep, ceiling = F32(1 - p[7]), F32(p[8])
    half, one, zero = F32(0.5), F32(1.0), F32(0.0)
    for i in range(n):
        potential = base + slope * capability[i]
        odds = odds0 * np.exp(skill_effect * (skill[i] - half))
        p_find[i] = odds / (one + odds) * hire
        w = _min(potential * wage_keep, ceiling)
        wage[i] = w
        fr = (potential - w) / potential
        if fr == fr:  # np.clip keeps NaN
            fr = min(max(fr, zero), one)
        frustration[i] = fr
    return p_find, wage, frustration


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def integration(t, fc, arrive, returned, log_degree, p_find, wage, frustration_of, u0, u1,
                employed, income, frustration, discrim, push, satisfaction, funds,
                p):  # pragma: no cover - compiled
    """Jobs, income, discrimination and push for the first-country rows ``fc``.

    ``p_find``, ``wage`` and ``frustration_of`` come from :func:`integration_rates`.
    ``u0``, ``u1`` hold the stage's float32 uniform numbers for every arrived row, so a
    row draws the same numbers whether or not it lives in the first country. ``p`` is the
    float64 vector of :data:`INTEGRATION_PARAMS` for this month; a parameter enters the
    arithmetic as float32, and a comparison with a uniform number is made in float32, as
    NumPy does with a Python float.
    """
    support_months = p[0]
    loss, welfare = F32(p[6]), F32(p[9])
    memory, rate, savings, subsistence = F32(p[10]), F32(p[11]), F32(p[12]), F32(p[13])
    w_frus, w_disc, w_unemp, w_dep = F32(p[14]), F32(p[15]), F32(p[16]), F32(p[17])
    relief = F32(p[18])
    s_inc, s_sup, s_disc = F32(p[19]), F32(p[20]), F32(p[21])
    one, zero = F32(1.0), F32(0.0)
    for k in range(fc.size):
        i = fc[k]
        support = (float(t - arrive[i]) < support_months) and not returned[i]
        if employed[i]:
            emp = u0[i] >= loss
        else:
            emp = u0[i] < p_find[i]
        inc = wage[i] if emp else welfare
        fr = frustration_of[i]
        d = memory * discrim[i] + (one if u1[i] < rate else zero)
        saved = savings * _max(inc - subsistence, zero)
        ps = (w_frus * fr + w_disc * d + w_unemp * (zero if emp else one)
              + w_dep * _max(zero, one - inc) - relief * (one if support else zero))
        sat = s_inc * inc + s_sup * log_degree[i] - s_disc * d
        funds[i] += saved
        employed[i] = emp
        income[i] = inc
        frustration[i] = fr
        discrim[i] = d
        push[i] = ps
        satisfaction[i] = sat


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def gates_pull(i, t, info_until, info_any, open_, travel, fee, offer_until, offer_dest,
               skill, funds, min_skill, cheapest, information_gating, capability_gating,
               exclude_current, dest, socdem, children, optimism, success, base, school,
               w_socdem, w_recognition):  # pragma: no cover - compiled
    """:meth:`Engine._gates` and :meth:`Engine._pull` for candidates ``i`` in one pass.

    Returns ``(rows, allowed, capable, cost, pull)``: ``rows`` indexes ``i`` for those who
    pass the capability gate and can reach at least one destination; ``allowed``, ``cost``
    and ``pull`` are destination-major (D, k) arrays and ``capable`` is (k,), all for those
    rows only. ``base``, ``school`` and ``w_socdem`` are the destination terms of the pull
    (the ``socdem`` weight already multiplied in), ``w_recognition`` the weight of a
    broker's rumour.
    """
    m = i.size
    D = open_.size
    # pass 1: who passes, with the allowed destinations as bits (D <= 64, as ``claimed``)
    rows = np.empty(m, np.int64)
    bits = np.empty(m, np.uint64)
    capable = np.empty(m, np.bool_)
    f32_min_skill = F32(min_skill)
    k = 0
    for r in range(m):
        j = i[r]
        od = offer_dest[j]
        offer = offer_until[j] >= t and od >= 0
        if information_gating and not info_any[j] >= t:
            continue
        cap = True
        if capability_gating:
            cap = skill[j] >= f32_min_skill or offer
            if not (cap and float(funds[j]) >= cheapest):
                continue
        fj = float(funds[j])
        cur = dest[j]
        b = np.uint64(0)
        for d in range(D):
            a = open_[d]
            if information_gating:
                a = a and info_until[j, d] >= t
            if capability_gating:
                a = a and fj >= travel[d]
                if offer and d == od:
                    a = a and fj >= travel[d] + fee
            if exclude_current and d == cur:
                a = False
            if a:
                b |= np.uint64(1) << np.uint64(d)
        if b == 0:
            continue
        rows[k] = r
        bits[k] = b
        capable[k] = cap
        k += 1
    # pass 2: the (D, k) arrays of those who passed
    allowed = np.empty((D, k), np.bool_)
    cost = np.empty((D, k), np.float64)
    pull = np.empty((D, k), np.float64)
    for q in range(k):
        j = i[rows[q]]
        od = offer_dest[j]
        offer = offer_until[j] >= t and od >= 0
        kids = children[j] > 0
        sd = float(socdem[j])
        b = bits[q]
        for d in range(D):
            allowed[d, q] = (b >> np.uint64(d)) & np.uint64(1) != 0
            c = travel[d]
            if offer and d == od:
                c += fee
            cost[d, q] = c
            v = base[d] + w_socdem[d] * sd
            if kids:
                v += school[d]
            pull[d, q] = v
        if offer:
            s = success[od]
            bump = min(max(s + float(optimism[j]), 0.0), 1.0) - min(max(s, 0.0), 1.0)
            pull[od, q] += w_recognition * bump
    return rows[:k].copy(), allowed, capable[:k].copy(), cost, pull


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def refresh_info(info_until, info_any, rows, dests, until):  # pragma: no cover - compiled
    """Household ``rows[k]`` knows destination ``dests[k]`` until month ``until[k]``.

    Several refreshes of one cell in a month keep the longest (``np.maximum.at``).
    """
    for k in range(rows.size):
        r, d, u = rows[k], dests[k], until[k]
        if u > info_until[r, d]:
            info_until[r, d] = u
        if u > info_any[r]:
            info_any[r] = u


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def best_known(told, t, info_until, degree):  # pragma: no cover - compiled
    """Of households ``told``, those who know a destination now and have a contact to tell.

    Returns ``(who, best)``: each one's destination known longest (the first of equals,
    as ``argmax``), in the order of ``told``.
    """
    D = info_until.shape[1]
    who = np.empty(told.size, np.int64)
    best = np.empty(told.size, np.int64)
    k = 0
    for q in range(told.size):
        j = told[q]
        b = 0
        for d in range(1, D):
            if info_until[j, d] > info_until[j, b]:
                b = d
        if info_until[j, b] >= t and degree[j] > 0:
            who[k] = j
            best[k] = b
            k += 1
    return who[:k].copy(), best[:k].copy()
