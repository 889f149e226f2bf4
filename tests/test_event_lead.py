"""Event leads (a policy in practice before its legal date) and a shrinking background stream.

Both are parameters that calibration may free: ``events.<id>.lead_months`` and
``destinations.<ISO3>.background_decline``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_edges import NO_INFLOW, dest_yaml
from test_engine import small

from onward.engine.compile import OverrideError, compile_scenario
from onward.engine.population import build as build_population
from onward.scenario import ScenarioError, load_scenario, load_text

DESIGNATION = "events.gbr-designation-2010.lead_months"


def _first_month_on(arr: np.ndarray) -> int:
    return int(np.flatnonzero(arr > 0.5)[0])


def test_flagship_frees_the_designation_lead():
    sc = load_scenario("nk-onward")
    free = sc.free_parameters()
    assert DESIGNATION in free
    assert free[DESIGNATION].prior == (0.0, 30.0)


@pytest.mark.parametrize("lead", [0, 1, 12, 29.6])
def test_lead_moves_the_change_earlier_by_whole_months(lead):
    sc = load_scenario("nk-onward")
    gbr = sc.destination_codes.index("GBR")
    base = compile_scenario(sc).dest["checks_prior_nationality"][:, gbr]
    moved = compile_scenario(sc, overrides={DESIGNATION: lead}).dest[
        "checks_prior_nationality"][:, gbr]
    assert _first_month_on(base) == (2010 - 1999) * 12 + 2  # March 2010
    assert _first_month_on(moved) == _first_month_on(base) - int(round(lead))
    # nothing else moves
    other = np.delete(np.arange(len(sc.destination_codes)), gbr)
    assert np.array_equal(
        compile_scenario(sc).dest["checks_prior_nationality"][:, other],
        compile_scenario(sc, overrides={DESIGNATION: lead}).dest[
            "checks_prior_nationality"][:, other])


def test_lead_set_in_the_scenario_file():
    sc = load_text("extends: nk-onward\nevents:\n  - {id: gbr-designation-2010, date: 2010-03-02,"
                   " target: destinations.GBR.checks_prior_nationality, value: 1, source: x,"
                   " lead_months: 6}\n", "lead.yaml")
    gbr = sc.destination_codes.index("GBR")
    arr = compile_scenario(sc).dest["checks_prior_nationality"][:, gbr]
    assert _first_month_on(arr) == (2010 - 1999) * 12 + 2 - 6


@pytest.mark.parametrize("bad, words", [
    ("lead_months: 500", "lead_months"),
    ("lead_months: -1", "lead_months"),
    ("lead_months: {value: 3, prior: [0, 400], source: x}", "lead_months"),
])
def test_bad_lead_names_the_field(bad, words):
    with pytest.raises(ScenarioError) as exc:
        small(events=f"  - {{id: x, date: 2002-01, target: destinations.CRP.open, value: 0, "
                     f"{bad}}}\n")
    assert words in str(exc.value) and "Fix" in str(exc.value)


def test_free_lead_needs_an_id():
    with pytest.raises(ScenarioError) as exc:
        small(events="  - {date: 2002-01, target: destinations.CRP.open, value: 0, "
                     "lead_months: {value: 1, prior: [0, 6], free: true, source: x}}\n")
    assert "id" in str(exc.value)


@pytest.mark.parametrize("target", ["events.no-such-event.lead_months",
                                    "events.gbr-designation-2010.date"])
def test_override_of_an_unknown_lead_is_refused(target):
    with pytest.raises(OverrideError, match="lead"):
        compile_scenario(load_scenario("nk-onward"), overrides={target: 3})


def test_override_lead_outside_its_range_is_refused():
    with pytest.raises(OverrideError, match="lead"):
        compile_scenario(load_scenario("nk-onward"), overrides={DESIGNATION: 200})


@pytest.mark.parametrize("target, value, bounds", [
    ("parameters.brokers.uptake", 2.0, "[0, 1]"),
    ("parameters.brokers.optimism", -1.5, "[-1, 1]"),
    ("destinations.GBR.recognition_rate", -0.1, "[0, 1]"),
    ("destinations.GBR.processing_months", 200.0, "[0.1, 120]"),
])
def test_override_outside_a_parameters_bounds_is_refused(target, value, bounds):
    """An override outside the registry's hard bounds used to be clipped silently (a
    scenario file with that value does not validate); it is refused, naming the range.
    A value on a bound passes."""
    sc = load_scenario("nk-onward")
    with pytest.raises(OverrideError, match=re.escape(f"outside {bounds}")):
        compile_scenario(sc, overrides={target: value})
    edge = float(bounds[1:-1].split(", ")[0 if value < 0 else 1])
    c = compile_scenario(sc, overrides={target: edge})
    parts = target.split(".")
    got = (c.glob[f"{parts[1]}.{parts[2]}"] if parts[0] == "parameters"
           else c.dest[parts[2]][:, c.destinations.index(parts[1])])
    assert got[0] == edge


def test_background_decline_shrinks_the_direct_stream():
    """With decline d the stream of year k is (1 - d)^k of the first: checked on counts."""
    sc = small(end="2004-12", extra=NO_INFLOW + dest_yaml(background_claims=20))
    years = {}
    for decline in (0.0, 0.5):
        ov = {f"destinations.{d}.{k}": v for d in sc.destination_codes
              for k, v in (("background_decline", decline), ("background_claims", 400))}
        c = compile_scenario(sc, overrides=ov, seed=5)
        ag = build_population(c)
        per_year = np.bincount(ag.arrive[ag.direct] // 12, minlength=5)
        years[decline] = per_year
    flat, shrinking = years[0.0], years[0.5]
    assert flat[0] > 1000 and abs(flat[4] / flat[0] - 1) < 0.1
    # the mean factor of year 4 against year 0 is 0.5^4 (monthly decay inside each year)
    assert 0.04 < shrinking[4] / shrinking[0] < 0.09
    # year 0 already decays month by month: mean of 0.5^(m/12) over m = 0..11 is 0.743
    assert abs(shrinking[0] / flat[0] - 0.743) < 0.06


def test_override_shares_of_the_refused_above_one_is_refused():
    """Overrides of refused_return and refused_remigrate (shares of the refused) that sum
    above 1 are refused, as a scenario file with them is; a sum of exactly 1 passes."""
    sc = load_scenario("nk-onward")
    ret = "parameters.after_decision.refused_return"
    again = "parameters.after_decision.refused_remigrate"
    with pytest.raises(OverrideError, match=re.escape("0.95 + 0.1 = 1.05 > 1")):
        compile_scenario(sc, overrides={ret: 0.95})
    with pytest.raises(OverrideError, match="> 1"):
        compile_scenario(sc, overrides={ret: 0.6, again: 0.5})
    c = compile_scenario(sc, overrides={ret: 0.5, again: 0.5})
    assert c.glob[ret.split(".", 1)[1]][0] + c.glob[again.split(".", 1)[1]][0] == 1


@pytest.mark.parametrize("value", ["0.5", None, True, [0.5]])
def test_override_that_is_not_a_number_is_refused(value):
    """Text (or another non-number) as an override value ended in NumPy's TypeError about
    ufunc 'isfinite'; it is an OverrideError naming the target."""
    sc = load_scenario("toy")
    for target in ("parameters.integration.discrimination_rate",
                   f"events.{sc.events[0].id}.lead_months"):
        with pytest.raises(OverrideError, match=re.escape(f"override {target}: ")):
            compile_scenario(sc, overrides={target: value})


def test_a_closed_destination_gets_no_direct_claimants():
    """`open: 0` closes a destination to arrivals, yet direct claimants kept arriving
    there (220 over a toy run). Closed months now draw none; open ones are unchanged."""
    sc = load_scenario("toy")
    shut = load_text("extends: toy\nevents:\n  - {id: dlt-shut, date: 2005-01, "
                     "target: destinations.DLT.open, value: 0, source: test}\n", "shut.yaml")
    dlt = sc.destination_codes.index("DLT")
    for s, closed_from in ((sc, None), (shut, 5 * 12)):
        ag = build_population(compile_scenario(s, seed=3))
        direct_dlt = ag.arrive[ag.direct & (ag.home_dest == dlt)]
        assert (direct_dlt < 5 * 12).sum() > 0
        if closed_from is None:
            assert (direct_dlt >= 5 * 12).sum() > 0
        else:
            assert (direct_dlt >= closed_from).sum() == 0


@pytest.mark.parametrize("until", [1990, 2030])
def test_stopping_early_outside_the_horizon_is_refused(until):
    """simulate(until=2030) stopped silently at the horizon's end and until=1990 ran a
    one-month stub; both are refused, saying what until means here and how to extend."""
    with pytest.raises(ValueError, match=f"until {until} is outside toy's horizon 2000-2020"):
        compile_scenario(load_scenario("toy"), until=until)
    assert compile_scenario(load_scenario("toy"), until=2020).run_months == 21 * 12


@pytest.mark.parametrize("target, fix", [
    ("destinations.CRP.detecton", "Fix: did you mean destinations.CRP.detection?"),
    ("parameters.integration.discrimnation_rate",
     "Fix: did you mean parameters.integration.discrimination_rate?"),
    ("integration.discrimination_rate", "Fix: write parameters.integration.discrimination_rate"),
])
def test_misspelt_override_names_the_nearest_parameter(target, fix):
    """A misspelt override (simulate(overrides={"destinations.CRP.detecton": 0.9})) was told
    to 'write parameters.<group>.<name> or destinations.<ISO3>.<name>', the form it had
    written; a scenario file with the same typo is told the parameter it meant. The
    override's message names it too."""
    sc = load_scenario("toy")
    with pytest.raises(OverrideError) as info:
        compile_scenario(sc, overrides={target: 0.5})
    assert str(info.value).startswith(f"{target}: not a parameter"), str(info.value)
    assert fix in str(info.value), str(info.value)
