"""Compiled loops for the engine's hottest monthly stages (Numba).

Each function here does, in one pass over the households, what a stage of
:class:`onward.engine.model.Engine` would otherwise do in a few dozen NumPy array
operations. The random numbers come from the stage's own NumPy stream: either drawn by the
stage and passed in, or drawn here from the ``numpy.random.Generator`` passed in (Numba
draws the same numbers from it as NumPy does). A stage may be given the generator itself or
its :func:`onward.engine.rng.generator_handle` (the addresses of its state and of its
bit generator's functions): Numba unboxes a ``Generator`` argument in ~7 µs, a handle in
~0.5 µs, and both draw the same numbers from the same state. Either way they are drawn in
the order the NumPy expression of the stage drew them, and the arithmetic is written in the
same order and precision (float32 where the agent columns are float32), so the outputs are
the NumPy expressions', element for element. ``tests/test_stages.py`` keeps those expressions and
checks each function against them.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from onward.engine.kernel_numba import sfc64_step

F32 = np.float32

_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")
_GENERATOR = types.NumPyRandomGeneratorType("generator")


@intrinsic
def _generator_from(typingctx, state, next_uint64, next_uint32, next_double):
    """A Numba ``Generator`` that draws through the bit generator at these addresses
    (what Numba's unboxing of a ``numpy.random.Generator`` builds, without the Python
    object: Numba's draws read only the state and the three functions)."""
    sig = _GENERATOR(types.uintp, types.uintp, types.uintp, types.uintp)

    def codegen(context, builder, sig, args):  # pragma: no cover - compile time
        bg = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder)
        bg.state_address = args[0]
        bg.state = args[0]
        bg.fnptr_next_uint64 = args[1]
        bg.fnptr_next_uint32 = args[2]
        bg.fnptr_next_double = args[3]
        bg.bit_generator = context.get_constant(types.uintp, 0)
        bg.parent = cgutils.get_null_value(bg.parent.type)
        gen = cgutils.create_struct_proxy(_GENERATOR)(context, builder)
        gen.bit_generator = bg._getvalue()
        gen.meminfo = cgutils.get_null_value(gen.meminfo.type)  # no Python object to own
        gen.parent = cgutils.get_null_value(gen.parent.type)
        return gen._getvalue()

    return sig, codegen


def as_generator(rng):  # pragma: no cover - replaced in compiled code
    """In compiled code: ``rng`` as a Numba ``Generator``, whether it is one or a handle
    (:func:`onward.engine.rng.generator_handle`). The caller keeps the NumPy generator
    alive while the compiled code draws from it."""
    return rng


@overload(as_generator, inline="always")
def _as_generator(rng):
    if isinstance(rng, types.NumPyRandomGeneratorType):
        return lambda rng: rng
    if isinstance(rng, types.UniTuple) and rng.count == 5:
        return lambda rng: _generator_from(rng[0], rng[1], rng[2], rng[3])
    return None


# --- uniform numbers straight from SFC64's state -------------------------------------------
# NumPy's SFC64 keeps ``struct {uint64_t s[4]; int has_uint32; uint32_t uinteger;}`` at
# ``bit_generator.ctypes.state_address``. Filling an array through the bit generator's
# function pointers costs ~1.7 ns a number here; stepping the same state below with SFC64's
# step (``kernel_numba.sfc64_step``, the movement kernel's), ~1 ns. They give NumPy's
# numbers and leave the state as NumPy would (checked against NumPy when first used:
# :func:`sfc64_inline_ok`; a handle uses them only then).

def _pointer_intrinsic(elem):
    @intrinsic
    def pointer(typingctx, address):
        sig = types.CPointer(elem)(types.uintp)

        def codegen(context, builder, sig, args):  # pragma: no cover - compile time
            return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

        return sig, codegen

    return pointer


#: ``address`` as a pointer to 64-bit, or 32-bit, unsigned integers
_ptr64 = _pointer_intrinsic(types.uint64)
_ptr32 = _pointer_intrinsic(types.uint32)


@njit(nogil=True, cache=True, boundscheck=False)
def sfc64_doubles(address, n):  # pragma: no cover - compiled
    """``n`` of NumPy's ``SFC64.random()`` (53 bits of a 64-bit step), from the state at
    ``address``, which moves on as NumPy's would."""
    st = carray(_ptr64(address), 4)
    a, b, c, w = st[0], st[1], st[2], st[3]
    out = np.empty(n, np.float64)
    for i in range(n):
        tmp, a, b, c, w = sfc64_step(a, b, c, w)
        out[i] = np.float64(tmp >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    st[0], st[1], st[2], st[3] = a, b, c, w
    return out


@njit(nogil=True, cache=True, boundscheck=False)
def sfc64_floats(address, n):  # pragma: no cover - compiled
    """``n`` of NumPy's ``SFC64.random(dtype=float32)``: 24 bits of a 32-bit number, each
    64-bit step giving two (the high half kept in the state's buffer for the next)."""
    st = carray(_ptr64(address), 4)
    half = carray(_ptr32(address), 10)  # [8] has_uint32, [9] uinteger
    a, b, c, w = st[0], st[1], st[2], st[3]
    has, buf = half[8], half[9]
    out = np.empty(n, np.float32)
    for i in range(n):
        if has != 0:
            x = buf
            has = np.uint32(0)
        else:
            tmp, a, b, c, w = sfc64_step(a, b, c, w)
            has = np.uint32(1)
            buf = np.uint32(tmp >> np.uint64(32))
            x = np.uint32(tmp & np.uint64(0xFFFFFFFF))
        out[i] = F32(x >> np.uint32(8)) * F32(1.0 / 16777216.0)
    st[0], st[1], st[2], st[3] = a, b, c, w
    half[8], half[9] = has, buf
    return out


_INLINE_OK: list[bool] = []


def sfc64_inline_ok() -> bool:
    """Whether :func:`sfc64_doubles` and :func:`sfc64_floats` give NumPy's numbers and
    leave NumPy's state on this NumPy (checked once per process, on a scratch stream)."""
    if not _INLINE_OK:
        ok = True
        try:
            for sizes in ((5, 3, 0, 1), (1, 4, 7, 2), (3, 1, 1, 1)):
                a = np.random.Generator(np.random.SFC64(20261127))
                b = np.random.Generator(np.random.SFC64(20261127))
                addr = a.bit_generator.ctypes.state_address
                for k, n in enumerate(sizes * 3):
                    mine = sfc64_floats(addr, n) if k % 2 else sfc64_doubles(addr, n)
                    ref = b.random(n, dtype=np.float32) if k % 2 else b.random(n)
                    ok &= bool(np.array_equal(mine, ref))
                sa, sb = a.bit_generator.state, b.bit_generator.state
                ok &= bool(np.array_equal(sa["state"]["state"], sb["state"]["state"])
                           and sa["has_uint32"] == sb["has_uint32"]
                           and sa["uinteger"] == sb["uinteger"])
        except Exception:  # noqa: BLE001 - any failure means: use the generator
            ok = False
        _INLINE_OK.append(bool(ok))
    return _INLINE_OK[0]


def uniform(rng, n):  # pragma: no cover - replaced in compiled code
    """In compiled code: ``n`` uniform doubles from ``rng`` (a ``Generator``, or a handle
    of :func:`onward.engine.rng.generator_handle`), NumPy's ``rng.random(n)``."""
    return rng.random(n)


@overload(uniform, inline="always")
def _uniform(rng, n):
    if isinstance(rng, types.NumPyRandomGeneratorType):
        return lambda rng, n: rng.random(n)
    if isinstance(rng, types.UniTuple) and rng.count == 5:
        def impl(rng, n):  # pragma: no cover - compiled
            if rng[4] == 1:
                return sfc64_doubles(rng[0], n)
            return _generator_from(rng[0], rng[1], rng[2], rng[3]).random(n)
        return impl
    return None


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


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _gate_pass(i, t, info_until, info_any, open_, travel, fee, offer_until, offer_dest,
               skill, funds, min_skill, cheapest, information_gating, capability_gating,
               exclude_current, dest):  # pragma: no cover - compiled
    """Pass 1 of the gates: ``(rows, bits, capable, k)``, where the first ``k`` of ``rows``
    index ``i`` for those who pass the capability gate and can reach at least one
    destination, ``bits`` holds their allowed destinations as bits (D <= 64, as
    ``claimed``) and ``capable`` whether they passed the capability gate on their own."""
    m = i.size
    D = open_.size
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
    return rows, bits, capable, k


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _row_pull_cost(j, od, offer, travel, fee, children, socdem, optimism, success, base,
                   school, w_socdem, w_recognition, pv, cv):  # pragma: no cover - compiled
    """The pull and cost of each destination for household ``j``, into ``pv`` and ``cv``."""
    D = travel.size
    kids = children[j] > 0
    sd = float(socdem[j])
    for d in range(D):
        c = travel[d]
        if offer and d == od:
            c += fee
        cv[d] = c
        v = base[d] + w_socdem[d] * sd
        if kids:
            v += school[d]
        pv[d] = v
    if offer:
        s = success[od]
        bump = min(max(s + float(optimism[j]), 0.0), 1.0) - min(max(s, 0.0), 1.0)
        pv[od] += w_recognition * bump


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
    D = open_.size
    rows, bits, capable, k = _gate_pass(
        i, t, info_until, info_any, open_, travel, fee, offer_until, offer_dest, skill,
        funds, min_skill, cheapest, information_gating, capability_gating, exclude_current,
        dest)
    # pass 2: the (D, k) arrays of those who passed
    allowed = np.empty((D, k), np.bool_)
    cost = np.empty((D, k), np.float64)
    pull = np.empty((D, k), np.float64)
    pv = np.empty(D, np.float64)
    cv = np.empty(D, np.float64)
    for q in range(k):
        j = i[rows[q]]
        od = offer_dest[j]
        offer = offer_until[j] >= t and od >= 0
        _row_pull_cost(j, od, offer, travel, fee, children, socdem, optimism, success,
                       base, school, w_socdem, w_recognition, pv, cv)
        b = bits[q]
        for d in range(D):
            allowed[d, q] = (b >> np.uint64(d)) & np.uint64(1) != 0
            cost[d, q] = cv[d]
            pull[d, q] = pv[d]
    return rows[:k].copy(), allowed, capable[:k].copy(), cost, pull


#: decision rules with a compiled expression in :func:`decide` (codes as in ``rule``)
RULE_ASPIRATIONS_CAPABILITIES = 0
RULE_PLANNED_BEHAVIOUR = 1
#: ``rule`` for :func:`decide` when everyone who passes the gates moves (remigration)
RULE_CHOOSE_ONLY = -1


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _rule_aspiration(rule, b, pv, cv, push_j, funds_j, skill_j, nr,
                     rp):  # pragma: no cover - compiled
    """A built-in rule's aspiration of one household (the rules' NumPy expressions in
    :mod:`onward.rules.decision`): ``b`` holds the destinations it may reach as bits (0:
    none, so no pull and no cheapest journey), ``pv``/``cv`` their pull and cost, ``nr``
    its norm (planned behaviour), ``rp`` the parameters as :func:`decide` reads them."""
    D = pv.size
    best = -np.inf
    for d in range(D):
        if (b >> np.uint64(d)) & np.uint64(1) != 0:
            best = _max(best, pv[d])
    if not np.isfinite(best):
        best = 0.0
    if rule == RULE_ASPIRATIONS_CAPABILITIES:
        x = rp[0] + push_j + best
    else:
        cheap = np.inf
        for d in range(D):
            if (b >> np.uint64(d)) & np.uint64(1) != 0:
                cheap = _min(cheap, cv[d])
        control = 0.0
        if np.isfinite(cheap):
            control = _min(_max(funds_j / _max(cheap, 1e-6), 0.0), 2.0)
        control = control + skill_j
        attitude = push_j + best
        x = rp[5] + rp[6] * attitude + rp[7] * nr * 10.0 + rp[8] * control
    x = _min(_max(x, -40.0), 40.0)
    return 1.0 / (1.0 + np.exp(-x))


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def decide(rng, rule, i, t, info_until, info_any, open_, travel, fee, offer_until,
           offer_dest, skill, funds, min_skill, cheapest, information_gating,
           capability_gating, exclude_current, dest, socdem, children, optimism, success,
           base, school, w_socdem, w_recognition, push, norm, rp):  # pragma: no cover
    """The month's decision for candidates ``i`` in one pass: gates, pull, the rule's
    aspiration and hazard, a broker's offer, whether to move and where to.

    What :meth:`Engine.decision` does with a built-in rule's NumPy expression
    (:mod:`onward.rules.decision`), drawing the same numbers from ``rng`` (two uniforms per
    row that passes the gates: all the first ones, then all the second ones). With
    ``rule = RULE_CHOOSE_ONLY`` everyone who passes moves and chooses with one uniform
    per row, as :meth:`Engine._remigrate` does. ``norm`` holds the share of contacts who
    moved on for each candidate (planned behaviour only). ``rp`` holds the rule's and the
    choice's parameters: intercept, base hazard, uptake, choice scale, cost sensitivity,
    then the planned-behaviour intercept and weights of attitude, norm and control.

    Returns ``(rows, aspiration, move_rows, move_dest, move_via, move_cost)``: ``rows``
    index ``i`` for those who passed the gates; the movers are ``rows[move_rows]`` and
    ``aspiration`` is theirs. The rule is evaluated only for rows whose draw is below the
    highest hazard it could give (the base hazard, or a broker offer's uptake): the others
    stay whatever their aspiration, so the moves are those of evaluating everyone.
    """
    D = open_.size
    rows, bits, capable, k = _gate_pass(
        i, t, info_until, info_any, open_, travel, fee, offer_until, offer_dest, skill,
        funds, min_skill, cheapest, information_gating, capability_gating, exclude_current,
        dest)
    choose_only = rule == RULE_CHOOSE_ONLY
    u = uniform(rng, k if choose_only else 2 * k)
    base_hazard, uptake, scale, cost_sens = rp[1], rp[2], rp[3], rp[4]
    asp = np.empty(k, np.float64)
    mrows = np.empty(k, np.int64)
    mdest = np.empty(k, np.int8)
    mvia = np.empty(k, np.bool_)
    mcost = np.empty(k, np.float64)
    pv = np.empty(D, np.float64)
    cv = np.empty(D, np.float64)
    cw = np.empty(D, np.float64)
    n_move = 0
    for q in range(k):
        r = rows[q]
        j = i[r]
        od = offer_dest[j]
        offer = offer_until[j] >= t and od >= 0
        if not choose_only:
            # the hazard is at most the base hazard (or the uptake of an offer), as the
            # aspiration is at most 1: whoever's draw is above that stays, whatever the
            # rule says, so the rule is evaluated for the others only
            bound = base_hazard if capable[q] else 0.0
            if offer:
                bound = _max(bound, uptake)
            if not u[q] < bound:
                continue
        _row_pull_cost(j, od, offer, travel, fee, children, socdem, optimism, success,
                       base, school, w_socdem, w_recognition, pv, cv)
        b = bits[q]
        fj = float(funds[j])
        if choose_only:
            via = False
            uc = u[q]
        else:
            nr = norm[r] if rule == RULE_PLANNED_BEHAVIOUR else 0.0
            a = _rule_aspiration(rule, b, pv, cv, float(push[j]), fj, float(skill[j]), nr,
                                 rp)
            h = base_hazard * a if capable[q] else 0.0
            via = offer and capable[q] and (b >> np.uint64(od)) & np.uint64(1) != 0
            if via:
                h = _max(h, uptake * a)
            if not u[q] < h:
                continue
            uc = u[k + q]
        if via:
            choice = od
        else:
            fu = _max(fj, 0.25)
            vmax = -np.inf
            for d in range(D):
                if (b >> np.uint64(d)) & np.uint64(1) != 0:
                    pv[d] = scale * (pv[d] - cost_sens * cv[d] / fu)
                    vmax = _max(vmax, pv[d])
            tot = 0.0
            for d in range(D):
                if (b >> np.uint64(d)) & np.uint64(1) != 0:
                    tot += np.exp(pv[d] - vmax)
                cw[d] = tot
            lim = uc * tot
            choice = 0
            for d in range(D):
                if cw[d] < lim:
                    choice += 1
            choice = min(choice, D - 1)
        if not choose_only:
            asp[n_move] = a
        mrows[n_move] = q
        mdest[n_move] = choice
        mvia[n_move] = via
        mcost[n_move] = cv[choice]
        n_move += 1
    return (rows[:k].copy(), asp[:n_move].copy(), mrows[:n_move].copy(),
            mdest[:n_move].copy(), mvia[:n_move].copy(), mcost[:n_move].copy())


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def aspirations(rule, i, t, info_until, info_any, open_, travel, fee, offer_until,
                offer_dest, skill, funds, min_skill, cheapest, information_gating,
                capability_gating, exclude_current, dest, socdem, children, optimism,
                success, base, school, w_socdem, w_recognition, push, norm,
                rp):  # pragma: no cover - compiled
    """A built-in rule's aspiration for every household of ``i`` now, whether or not it
    could move (:meth:`Engine._aspiration_of`): those who pass the gates with the pull
    of the destinations they may reach, the others with no pull (and, under planned
    behaviour, no cheapest journey and a norm of 0, as the NumPy path gives them).
    Arguments as :func:`decide`; draws nothing."""
    D = open_.size
    rows, bits, capable, k = _gate_pass(
        i, t, info_until, info_any, open_, travel, fee, offer_until, offer_dest, skill,
        funds, min_skill, cheapest, information_gating, capability_gating, exclude_current,
        dest)
    out = np.empty(i.size, np.float64)
    bit_of = np.zeros(i.size, np.uint64)  # 0 for those who do not pass
    for q in range(k):
        bit_of[rows[q]] = bits[q]
    pv = np.empty(D, np.float64)
    cv = np.empty(D, np.float64)
    for r in range(i.size):
        j = i[r]
        b = bit_of[r]
        nr = 0.0
        if b != 0:
            od = offer_dest[j]
            offer = offer_until[j] >= t and od >= 0
            _row_pull_cost(j, od, offer, travel, fee, children, socdem, optimism, success,
                           base, school, w_socdem, w_recognition, pv, cv)
            if rule == RULE_PLANNED_BEHAVIOUR:
                nr = norm[r]
        out[r] = _rule_aspiration(rule, b, pv, cv, float(push[j]), float(funds[j]),
                                  float(skill[j]), nr, rp)
    return out


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def refresh_info(rng, info_until, info_any, rows, dests, t, decay, info_max
                 ):  # pragma: no cover - compiled
    """Household ``rows[k]`` hears of destination ``dests[k]`` in month ``t``: it knows it
    for a geometric number of months (chance ``decay`` a month of forgetting; a month if
    ``decay`` >= 1), one draw per row in the order of ``rows`` (NumPy's
    ``rng.geometric(decay, rows.size)``), until at most ``info_max``. Several refreshes of
    one cell in a month keep the longest (``np.maximum.at``)."""
    gen = as_generator(rng)
    for k in range(rows.size):
        life = gen.geometric(decay) if decay < 1 else np.int64(1)
        u = np.int16(min(t + life, info_max))
        r, d = rows[k], dests[k]
        if u > info_until[r, d]:
            info_until[r, d] = u
        if u > info_any[r]:
            info_any[r] = u


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def depart(rng, movers, dest, cost, t, transit, state, dest_of, funds, via_broker,
           concealment, broker_concealment, journey_months, concealed, due, moves,
           offer_dest):  # pragma: no cover - compiled
    """``movers`` leave for ``dest`` at ``cost`` in month ``t``: in transit, funds less
    the cost (not below 0), whether the claim will hide the first-country stay (chance
    ``concealment``, plus ``broker_concealment`` if a broker arranged it, within [0, 1];
    one uniform number each, in order), the journey's end (``journey_months``: whole
    months per destination), one more move, no open offer."""
    u = uniform(rng, movers.size)
    for k in range(movers.size):
        r = movers[k]
        d = dest[k]
        state[r] = transit
        dest_of[r] = d
        v = funds[r] - cost[k]
        if v < 0:
            v = 0.0
        funds[r] = v
        p = concealment + (1.0 if via_broker[r] else 0.0) * broker_concealment
        if p < 0:
            p = 0.0
        elif p > 1:
            p = 1.0
        concealed[r] = u[k] < p
        due[r] = np.int32(t) + journey_months[d]
        moves[r] += 1
        offer_dest[r] = -1


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


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def destination_life(rng, i, state, dest, children, lang_adult, lang_child, dest_employed,
                     coethnic, friction, identity, competition, loss_of,
                     p):  # pragma: no cover - compiled
    """Language, work, friction and the children's heritage identity at destinations.

    Everyone at a destination (rows ``i``: state claimant or later) draws three uniform
    numbers, all first numbers, then all second, then all third (NumPy's
    ``random((3, n))``), from ``rng``. ``competition`` and ``loss_of`` (the identity loss
    of a child at each destination) are per destination; ``p`` holds the month's
    language_adult, language_child, job_finding, job_loss_rate, coethnic_employment and
    friction_rate.
    """
    m = i.size
    u = uniform(rng, 3 * m)
    one = F32(1.0)
    g_la, g_lc, g_co = F32(p[0]), F32(p[1]), F32(p[4])
    g_jf, g_jl, g_fr = F32(p[2]), p[3], p[5]
    for k in range(m):
        r = i[k]
        la = lang_adult[r] + g_la * (one - lang_adult[r])
        lang_adult[r] = la
        kids = children[r] > 0
        if kids:
            lang_child[r] = lang_child[r] + g_lc * (one - lang_child[r])
        irregular = state[r] == 5
        u0, u1, u2 = u[k], u[m + k], u[2 * m + k]
        emp = dest_employed[r]
        p_find = float(g_jf * (F32(0.2) + F32(0.8) * la)) * (0.5 if irregular else 1.0)
        start = (not emp) and u0 < p_find
        stop = emp and u0 < g_jl
        new_emp = (emp or start) and not stop
        co = coethnic[r]
        if start:
            p_co = g_co * (one - F32(0.7) * la)
            co = irregular or u1 < float(p_co)
        co = co and new_emp
        dest_employed[r] = new_emp
        coethnic[r] = co
        d = dest[r]
        event = co and u2 < g_fr * competition[d]
        friction[r] = F32(0.9) * friction[r] + (one if event else F32(0.0))
        if kids:
            identity[r] = float(identity[r]) * (1.0 - loss_of[d])


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def stock_changes(state, dest, prev_state, prev_dest, children, direct, born, n_dest,
                  stock_h, stock_p, trans_h, trans_p):  # pragma: no cover - compiled
    """Update a month's stocks and transitions from the households that changed.

    ``stock_h``/``stock_p`` ((S, D + 1), households and persons) come in as last month's and
    leave as this month's; the households whose state or destination changed, or who had a
    child (``born``, sorted), move from their start-of-month cell to their current one.
    ``trans_h``/``trans_p`` ((S, S), zeroed) get the transitions: off the diagonal those
    who changed state, on it those who stayed (this month's stock of the state less those
    who came into it). Returns ``(changed, abroad_delta)``: the rows whose state or
    destination changed, and the change in persons abroad after an onward move.
    """
    n = state.size
    changed = np.empty(n, np.int64)
    nc = 0
    delta = 0
    q = 0  # next row of ``born``
    D1 = n_dest + 1
    for r in range(n):
        s, d, ps, pd = state[r], dest[r], prev_state[r], prev_dest[r]
        ch = s != ps or d != pd
        had = False
        while q < born.size and born[q] < r:
            q += 1
        if q < born.size and born[q] == r:
            had = True
        if not (ch or had):
            continue
        now = 1 + np.int64(children[r])
        before = now - 1 if had else now
        k_now = np.int64(s) * D1 + (0 if s <= 1 else np.int64(d) + 1)
        k_before = np.int64(ps) * D1 + (0 if ps <= 1 else np.int64(pd) + 1)
        stock_h.flat[k_now] += 1
        stock_h.flat[k_before] -= 1
        stock_p.flat[k_now] += now
        stock_p.flat[k_before] -= before
        if not direct[r]:
            if s >= 2:
                delta += now
            if ps >= 2:
                delta -= before
        if ch:
            changed[nc] = r
            nc += 1
            if s != ps:
                trans_h[ps, s] += 1
                trans_p[ps, s] += now
    S = trans_h.shape[0]
    for s2 in range(S):
        came_h = np.int64(0)
        came_p = np.int64(0)
        for s1 in range(S):
            came_h += trans_h[s1, s2]
            came_p += trans_p[s1, s2]
        trans_h[s2, s2] = stock_h[s2].sum() - came_h
        trans_p[s2, s2] = stock_p[s2].sum() - came_p
    return changed[:nc].copy(), delta


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def brokers(rng, act, broker_rows, state, degree, indptr, indices, push, funds, fee,
            targeting, can_offer, cw):  # pragma: no cover - compiled
    """Brokers recruit among their contacts in the first country (the brokers stage).

    ``broker_rows`` are the brokers' rows in ascending order (fixed for the run). Each
    active broker (arrived, not on a journey, with contacts) makes a Poisson(``act``)
    number of contacts, each with a contact drawn at random; a contact in the first
    country is targeted with a logistic chance that grows with their push and their funds
    against the fee, and is offered a destination drawn from the cumulative weights ``cw``
    (unless ``can_offer`` is false: no destination has weight).
    The draws come from ``rng`` in the order of the NumPy stage: all contact counts, all
    contact picks, all targeting draws, then all destination draws. Returns
    ``(who, dests)``: the households offered a destination (a household may appear more
    than once; the last offer stands), and the destinations.
    """
    gen = as_generator(rng)
    none = (np.empty(0, np.int64), np.empty(0, np.int64))
    active = np.empty(broker_rows.size, np.int64)
    na = 0
    for r in broker_rows:
        if state[r] != 0 and state[r] != 2 and degree[r] > 0:
            active[na] = r
            na += 1
    if na == 0:
        return none
    k = gen.poisson(act, na)
    nb = 0
    for q in range(na):
        nb += k[q]
    if nb == 0:
        return none
    u = uniform(rng, nb)
    nbr = np.empty(nb, np.int64)
    m = 0
    p = 0
    for q in range(na):
        b = active[q]
        for _ in range(k[q]):
            j = np.int64(indices[indptr[b] + np.int64(np.floor(u[p] * degree[b]))])
            p += 1
            if state[j] == 1:
                nbr[m] = j
                m += 1
    one = F32(1.0)
    cap = max(fee + 1.0, 1e-6)
    f_targeting = F32(targeting)
    u = uniform(rng, m)
    kept = 0
    for q in range(m):
        j = nbr[q]
        pushed = one / (one + np.exp(-push[j]))
        score = pushed + min(funds[j] / F32(cap), one) - one
        if u[q] < float(one / (one + np.exp(-(f_targeting * score)))):
            nbr[kept] = j
            kept += 1
    if kept == 0 or not can_offer:
        return none
    u = uniform(rng, kept)
    D = cw.size
    dests = np.empty(kept, np.int64)
    for q in range(kept):
        d = 0
        while d < D and cw[d] <= u[q]:
            d += 1
        dests[q] = min(d, D - 1)
    return nbr[:kept].copy(), dests


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def asylum_decisions(rng, t, claimants, due, dest, direct, concealed, state, checks,
                     detection, recognition):  # pragma: no cover - compiled
    """First decisions for the ``claimants`` (rows in state claimant) due by month ``t``.

    Returns ``(rows, granted, found)``: the due claimants in row order, whether each was
    granted protection, and whether each was refused because the first-country nationality
    was found (checked, and either not concealed or detected). Each draws two uniform
    numbers, all first numbers then all second (``random((2, n))``). Granted rows become
    recognised here; the caller handles the refused.
    """
    rows = np.empty(claimants.size, np.int64)
    m = 0
    for q in range(claimants.size):
        r = claimants[q]
        if due[r] <= t:
            rows[m] = r
            m += 1
    rows = rows[:m].copy()
    granted = np.empty(m, np.bool_)
    found = np.empty(m, np.bool_)
    if m == 0:
        return rows, granted, found
    u = uniform(rng, 2 * m)
    for k in range(m):
        r = rows[k]
        d = dest[r]
        checked = checks[d] > 0.5 and not direct[r]
        f = checked and (not concealed[r] or u[k] < detection[d])
        g = (not f) and u[m + k] < recognition[d]
        found[k] = f
        granted[k] = g
        if g:
            state[r] = 4
    return rows, granted, found


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def learn_success(success, d, granted, m):  # pragma: no cover - compiled
    """Perceived success after this month's decisions at destinations ``d``: at each
    destination that decided, ``m * success + (1 - m) * granted / decided``."""
    D = success.size
    n_dec = np.zeros(D, np.int64)
    n_rec = np.zeros(D, np.int64)
    for k in range(d.size):
        n_dec[d[k]] += 1
        if granted[k]:
            n_rec[d[k]] += 1
    for j in range(D):
        if n_dec[j] > 0:
            success[j] = m * success[j] + (1 - m) * n_rec[j] / n_dec[j]


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def removals(rng, irregular, dest, removal_rate):  # pragma: no cover - compiled
    """Of the ``irregular`` rows (not direct claimants), those removed this month, one
    draw each."""
    m = irregular.size
    if m == 0:
        return np.empty(0, np.int64)
    u = uniform(rng, m)
    out = np.empty(m, np.int64)
    k = 0
    for q in range(m):
        r = irregular[q]
        if u[q] < removal_rate[dest[r]]:
            out[k] = r
            k += 1
    return out[:k].copy()


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def nonfinite(bits):  # pragma: no cover - compiled
    """Whether any float32 in ``bits`` (viewed as int32) is NaN or infinite: its exponent
    bits all set. Integer work, so the loop vectorises."""
    found = 0
    for k in range(bits.size):
        found |= (bits[k] & 0x7F800000) == 0x7F800000
    return found != 0


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def first_nonfinite(columns, n):  # pragma: no cover - compiled
    """The index of the first float32 column whose first ``n`` values hold a NaN or an
    infinity (as :func:`nonfinite` finds them), or -1."""
    for j in range(len(columns)):
        if nonfinite(columns[j][:n].view(np.int32)):
            return j
    return -1


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def diaspora(rng, abroad, indptr, indices, state, dest, share):  # pragma: no cover - compiled
    """Households ``abroad`` pass news of where they are to contacts in the first country.

    Every (household, contact) pair draws one uniform number, in the order of the rows of
    ``abroad`` and then of their contacts; a contact in the first country hears with
    chance ``share``. Returns ``(rows, dests)``: who heard, and of which destination.
    """
    total = 0
    for q in range(abroad.size):
        s = abroad[q]
        total += indptr[s + 1] - indptr[s]
    u = uniform(rng, total)
    rows = np.empty(total, np.int64)
    dests = np.empty(total, np.int64)
    k = 0
    p = 0
    for q in range(abroad.size):
        s = abroad[q]
        for e in range(indptr[s], indptr[s + 1]):
            j = indices[e]
            if state[j] == 1 and u[p] < share:
                rows[k] = j
                dests[k] = dest[s]
                k += 1
            p += 1
    return rows[:k].copy(), dests[:k].copy()


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def peers(rng, fc, share, t, info_until, degree, indptr, indices):  # pragma: no cover
    """Informed first-country residents each tell one contact of the destination they know
    best (the one known longest; the first of equals).

    Every resident in ``fc`` draws whether they talk this month (chance ``share``); those
    who talk, know a destination now and have a contact then draw which contact. Returns
    ``(rows, dests)``: who heard, and of which destination.
    """
    u = uniform(rng, fc.size)
    told = np.empty(fc.size, np.int64)
    m = 0
    for q in range(fc.size):
        if u[q] < share:
            told[m] = fc[q]
            m += 1
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    who, best = best_known(told[:m], t, info_until, degree)
    v = uniform(rng, who.size)
    pick = np.empty(who.size, np.int64)
    for q in range(who.size):
        j = who[q]
        pick[q] = indices[indptr[j] + np.int64(np.floor(v[q] * degree[j]))]
    return pick, best


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def births(rng, n, fc_mask, female, age0, t, rate):  # pragma: no cover - compiled
    """The first ``n`` rows who have a child in month ``t``: a woman aged 18-40 in the
    first country (``fc_mask``), with chance ``rate``. Every row draws one uniform number
    (``random(n)``); the age is float32, as ``age0 + t / 12.0`` is in NumPy."""
    u = uniform(rng, n)
    a12 = F32(t / 12.0)
    out = np.empty(n, np.int64)
    m = 0
    for r in range(n):
        if u[r] < rate:  # the rare test first: a branch the processor predicts
            a = age0[r] + a12
            if fc_mask[r] and female[r] and a >= 18 and a <= 40:
                out[m] = r
                m += 1
    return out[:m].copy()


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def journey_sums(out, rows, onward, p, t1, persons, start, via_broker, path_broker,
                 path_cost):  # pragma: no cover - compiled
    """Add the journeys of ``rows`` (on routes ``p``, ending in month ``t1 - 1``) to one
    month's sums ``out`` (2, 5): by kind (0 inbound, 1 onward) the households, persons,
    months on the way, broker-arranged households and route cost. Each sum starts from 0
    and adds in row order, as ``np.bincount`` with weights does, before it joins ``out``."""
    s = np.zeros((2, 5))
    for q in range(rows.size):
        r = rows[q]
        k = 1 if onward[q] else 0
        s[k, 0] += 1.0
        s[k, 1] += persons[r]
        s[k, 2] += t1 - np.float64(start[r])
        s[k, 3] += 1.0 if (via_broker[r] if onward[q] else path_broker[p[q]]) else 0.0
        s[k, 4] += path_cost[p[q]]
    for k in range(2):
        for j in range(5):
            out[k, j] += s[k, j]


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def scan_rows(state, n, direct, dest, children, n_dest, first, claimant, irregular
              ):  # pragma: no cover - compiled
    """One pass over the arrived rows ``[:n]``: ``(fc_mask, fc, fc_onward, abroad,
    abroad_onward, irregular_onward, community)``, i.e. who is in the first country (mask
    and rows), of them who came through it (not direct claimants), who is at a
    destination (state claimant or later), of them who came onward, of those who are
    irregular, and the persons at each destination (``np.bincount`` of the destinations
    of ``abroad`` weighted by ``1 + children``, summed in row order)."""
    fc_mask = np.empty(n, np.bool_)
    n_fc = n_fco = n_ab = n_abo = n_irr = 0
    for r in range(n):
        s = state[r]
        f = s == first
        fc_mask[r] = f
        if f:
            n_fc += 1
            n_fco += not direct[r]
        elif s >= claimant:
            n_ab += 1
            if not direct[r]:
                n_abo += 1
                n_irr += s == irregular
    fc = np.empty(n_fc, np.int64)
    fc_onward = np.empty(n_fco, np.int64)
    abroad = np.empty(n_ab, np.int64)
    abroad_onward = np.empty(n_abo, np.int64)
    irregular_onward = np.empty(n_irr, np.int64)
    community = np.zeros(n_dest, np.float64)
    a = b = c = d = e = 0
    for r in range(n):
        s = state[r]
        if s == first:
            fc[a] = r
            a += 1
            if not direct[r]:
                fc_onward[b] = r
                b += 1
        elif s >= claimant:
            abroad[c] = r
            c += 1
            community[dest[r]] += 1.0 + np.float64(children[r])
            if not direct[r]:
                abroad_onward[d] = r
                d += 1
                if s == irregular:
                    irregular_onward[e] = r
                    e += 1
    return fc_mask, fc, fc_onward, abroad, abroad_onward, irregular_onward, community


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def profile_sums(who, skill, drive, funds, degree, satisfaction, income, frustration,
                 aspiration, children, age0, years, female):  # pragma: no cover - compiled
    """Sums and sums of squares, over households ``who``, of the profile's attributes in
    the order of :data:`onward.engine.recorder.PROFILE_ATTRS` (age: ``age0 + years``, in
    float32 as NumPy adds a Python float to a float32 column). Each value is taken as
    float64 and added in row order, as NumPy's ``sum(axis=0)`` of the (households x
    attributes) matrix adds them."""
    s = np.zeros(11, np.float64)
    q = np.zeros(11, np.float64)
    yrs = F32(years)
    for r in who:
        v = (np.float64(skill[r]), np.float64(drive[r]), np.float64(funds[r]),
             np.float64(degree[r]), np.float64(satisfaction[r]), np.float64(income[r]),
             np.float64(frustration[r]), np.float64(aspiration[r]), np.float64(children[r]),
             np.float64(age0[r] + yrs), 1.0 if female[r] else 0.0)
        for a in range(11):
            s[a] += v[a]
            q[a] += v[a] * v[a]
    return s, q


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def destination_profile_sums(out_sum, out_n, who, dest, skill, funds_before, children,
                             degree, via_broker, concealed, age0, years,
                             female):  # pragma: no cover - compiled
    """Add first movers ``who`` (with ``funds_before``, aligned with ``who``) to their
    destination's row of ``out_sum`` (attributes in the order of
    :data:`onward.engine.recorder.DEST_PROFILE_ATTRS`) and count them in ``out_n``: each
    value as float64, added in row order, as ``np.add.at`` adds the rows."""
    yrs = F32(years)
    for k in range(who.size):
        r = who[k]
        d = dest[r]
        v = (np.float64(skill[r]), np.float64(funds_before[k]), np.float64(children[r]),
             np.float64(degree[r]), 1.0 if via_broker[r] else 0.0,
             1.0 if concealed[r] else 0.0, np.float64(age0[r] + yrs),
             1.0 if female[r] else 0.0)
        for a in range(8):
            out_sum[d, a] += v[a]
        out_n[d] += 1


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _count_one(flow_h, flow_p, r, dest, direct, children):  # pragma: no cover - compiled
    """Add household ``r`` to flow counts ``flow_h``/``flow_p`` (D, 2): at its destination
    and route (0 onward, 1 direct), one household and its persons."""
    d, k = dest[r], 1 if direct[r] else 0
    flow_h[d, k] += 1
    flow_p[d, k] += 1 + np.int64(children[r])


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def lodge(who, dest, claimed, direct, children, first_h, first_p, repeat_h, repeat_p
          ):  # pragma: no cover - compiled
    """Claims lodged by ``who``: a first claim at the destination (flows ``first_h`` /
    ``first_p``), or a repeat claim there (``repeat_h`` / ``repeat_p``), as
    :func:`count_flow` counts; then bit ``dest`` of ``claimed`` is set."""
    for q in range(who.size):
        r = who[q]
        bit = np.uint64(1) << np.uint64(dest[r])
        if (claimed[r] & bit) > 0:
            _count_one(repeat_h, repeat_p, r, dest, direct, children)
        else:
            _count_one(first_h, first_p, r, dest, direct, children)
        claimed[r] |= bit


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def refusal_outcomes(rng, ref, direct, p_return, p_remigrate):  # pragma: no cover
    """Split the refused ``ref`` (one uniform number each, in order): those who return to
    the first country (below ``p_return``), those who try another destination (the next
    ``p_remigrate``) and those who stay irregularly; direct claimants always stay."""
    u = uniform(rng, ref.size)
    ret = np.empty(ref.size, np.int64)
    again = np.empty(ref.size, np.int64)
    stay = np.empty(ref.size, np.int64)
    a = b = c = 0
    both = p_return + p_remigrate
    for k in range(ref.size):
        r = ref[k]
        if direct[r] or u[k] >= both:
            stay[c] = r
            c += 1
        elif u[k] < p_return:
            ret[a] = r
            a += 1
        else:
            again[b] = r
            b += 1
    return ret[:a].copy(), again[:b].copy(), stay[:c].copy()


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def transit_stocks(active, offset, step_from, step, persons, size
                   ):  # pragma: no cover - compiled
    """Households and persons on the route graph by cell ``offset + step_from[step]`` (a
    kind's block of locations), ``size`` cells: ``np.bincount`` of the cells, unweighted and
    weighted by persons (summed in row order as float, then made integers)."""
    h = np.zeros(size, np.int64)
    pf = np.zeros(size, np.float64)
    for r in active:
        k = offset[r] + step_from[step[r]]
        h[k] += 1
        pf[k] += persons[r]
    return h, pf.astype(np.int64)


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def count_flow(flow_h, flow_p, idx, dest, direct, children):  # pragma: no cover - compiled
    """Add households ``idx`` to one month's flow counts ``flow_h``/``flow_p`` (D, 2):
    by destination and route (0 onward, 1 direct), households and persons."""
    for q in range(idx.size):
        _count_one(flow_h, flow_p, idx[q], dest, direct, children)


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def travel_waves(tn, mv, s, t1, step_last, step_ticks):  # pragma: no cover - compiled
    """A month of travel on the route graph for households with nothing in their way (no
    closure, no capacity that can bind, nobody held): :meth:`Transit.move`'s loop in waves.

    ``tn``, ``mv`` and ``s`` are the households' time of the next event, whether they are on
    a link, and their step; they are updated in place. In each wave those who reach a link's
    end this month enter its location (or finish, at a route's last step) and everyone at a
    link's start sets out on the next link; the waves and the order within them are those of
    the NumPy loop. Returns who finished, in that order.
    """
    m = tn.size
    a = np.empty(m, np.int64)
    b = np.empty(m, np.int64)
    done = np.empty(m, np.int64)
    na = nb = nd = 0
    for q in range(m):
        if mv[q] and tn[q] < t1:
            a[na] = q
            na += 1
    for q in range(m):
        if not mv[q]:
            b[nb] = q
            nb += 1
    while True:
        for r in range(na):
            q = a[r]
            if step_last[s[q]]:
                done[nd] = q
                nd += 1
            else:
                s[q] += 1
                mv[q] = False
                b[nb] = q
                nb += 1
        if nb == 0:
            break
        na = 0
        for r in range(nb):
            q = b[r]
            mv[q] = True
            tn[q] += step_ticks[s[q]]
            if tn[q] < t1:
                a[na] = q
                na += 1
        nb = 0
    return done[:nd].copy()


@njit(nogil=True, cache=True, boundscheck=False)
def _sort_rows(indptr, indices):  # pragma: no cover - compiled
    """Sort each row's column indices in place (rows are short: insertion sort)."""
    for r in range(indptr.size - 1):
        a, b = indptr[r], indptr[r + 1]
        for x in range(a + 1, b):
            v = indices[x]
            y = x - 1
            while y >= a and indices[y] > v:
                indices[y + 1] = indices[y]
                y -= 1
            indices[y + 1] = v


@njit(nogil=True, cache=True, boundscheck=False)
def csr_from_pairs(rows, cols, n):  # pragma: no cover - compiled
    """The ``n x n`` 0/1 matrix with a one at each ``(rows[k], cols[k])``, as CSR arrays
    ``(indptr, indices)`` in canonical form (sorted columns, no duplicates): what
    ``scipy.sparse.csr_matrix((ones, (rows, cols))).sum_duplicates()`` holds, with int32
    indices."""
    count = np.zeros(n + 1, np.int64)
    for k in range(rows.size):
        count[rows[k] + 1] += 1
    for r in range(n):
        count[r + 1] += count[r]
    fill = count[:-1].copy()
    idx = np.empty(rows.size, np.int32)
    for k in range(rows.size):
        r = rows[k]
        idx[fill[r]] = cols[k]
        fill[r] += 1
    _sort_rows(count, idx)
    indptr = np.zeros(n + 1, np.int32)
    out = np.empty(rows.size, np.int32)
    m = 0
    for r in range(n):
        last = -1
        for x in range(count[r], count[r + 1]):
            v = idx[x]
            if v != last:
                out[m] = v
                m += 1
                last = v
        indptr[r + 1] = m
    return indptr, out[:m].copy()


@njit(nogil=True, cache=True, boundscheck=False)
def permute_csr(indptr, indices, order):  # pragma: no cover - compiled
    """CSR arrays of ``A[order][:, order]`` (canonical) for canonical CSR ``A``: new row
    ``q`` is old row ``order[q]``, with each column ``c`` renamed to its new position."""
    n = order.size
    inv = np.empty(n, np.int64)
    for q in range(n):
        inv[order[q]] = q
    new_ptr = np.zeros(n + 1, np.int32)
    for q in range(n):
        o = order[q]
        new_ptr[q + 1] = new_ptr[q] + (indptr[o + 1] - indptr[o])
    new_idx = np.empty(indices.size, np.int32)
    for q in range(n):
        o = order[q]
        x = new_ptr[q]
        for y in range(indptr[o], indptr[o + 1]):
            new_idx[x] = inv[indices[y]]
            x += 1
    _sort_rows(new_ptr, new_idx)
    return new_ptr, new_idx


@njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
def schedule_decisions(rng, who, t, dest, months, due):  # pragma: no cover - compiled
    """``due[who] = t + geometric(1 / max(months[dest[who]], 1))``, one draw per claimant
    in the order of ``who``: NumPy's ``rng.geometric`` with an array of p draws each
    element with the scalar algorithm, as Numba's does (the same numbers)."""
    gen = as_generator(rng)
    for k in range(who.size):
        r = who[k]
        pm = _max(months[dest[r]], 1.0)
        due[r] = np.int32(t + np.int32(gen.geometric(1.0 / pm)))
