"""The Python API reads each kind of argument one way, in every function that takes it
(:mod:`onward.arguments`), and refuses a wrong type with a TypeError naming the keyword."""

from __future__ import annotations

import pytest
from cli_helper import SHORT

import onward
from onward.arguments import years_arg, years_label
from onward.experiments.ensemble import compare
from onward.scenario import load_text


@pytest.fixture(scope="module")
def short():
    return load_text(SHORT, "short.yaml")


@pytest.fixture(scope="module")
def alt():
    return load_text(SHORT + "name: toy-same\n", "same.yaml")


# --- years -----------------------------------------------------------------------------------


@pytest.mark.parametrize("given, years", [
    (2010, [2010]),
    ((2010, 2013), [2010, 2011, 2012, 2013]),  # a pair is a span, as compare_scenarios reads it
    ("2010-2012", [2010, 2011, 2012]),
    ("2010", [2010]),
    ([2015, 2010], [2010, 2015]),  # a list is exactly its years
    (range(2005, 2008), [2005, 2006, 2007]),
    ({2003, 2001}, [2001, 2003]),
    ((2001, 2003, 2002), [2001, 2002, 2003]),
    (None, None),
])
def test_years_take_one_meaning_each(given, years):
    assert years_arg(given) == years


@pytest.mark.parametrize("given", ["2010-20x", (2012, 2010)])
def test_bad_years_are_refused_naming_the_keyword(given):
    with pytest.raises(ValueError, match=r"^years="):
        years_arg(given)


@pytest.mark.parametrize("given", [2010.5, True, [2010, "2011"], {"a": 1}])
def test_years_of_a_wrong_type_are_a_type_error(given):
    with pytest.raises(TypeError, match=r"years takes a year \(2010\), a pair"):
        years_arg(given)


def test_years_label_names_the_exact_years():
    assert years_label([2010, 2015]) == "2010,2015"
    assert years_label([2010, 2011, 2012]) == "2010-2012"
    assert years_label([2010]) == "2010"


def test_compare_sums_a_pair_of_years_as_the_span_it_names(short, alt, tmp_path):
    """years=(2001, 2003) summed 2001 and 2003 only and labelled them '2001-2003'."""
    res = compare(short, [alt], n=2, workers=1, store=tmp_path / "s.duckdb",
                  years=(2001, 2003), destinations=["CRP"])
    v = res.values[(res.values.label == short.name) & (res.values.destination == "CRP")
                   & (res.values.output == "applications")]
    span = v[v.year.between(2001, 2003)].groupby("replicate").value.sum().median()
    assert set(res.effects.period) == {"2001-2003"}
    assert res.effects.baseline_median.iloc[0] == pytest.approx(span)
    listed = compare(short, [alt], n=2, workers=1, store=tmp_path / "s.duckdb",
                     years=[2001, 2003], destinations=["CRP"])
    assert set(listed.effects.period) == {"2001,2003"}  # what it summed, not a span


def test_sensitivity_sentence_names_the_years_it_used():
    import pandas as pd

    from onward.experiments.sensitivity import _answer

    ind = pd.DataFrame([("policy", 0.6, 0.05, 0.7, 0.05), ("push", 0.1, 0.05, 0.2, 0.05)],
                       columns=["group", "S1", "S1_conf", "ST", "ST_conf"])
    _, s = _answer(ind, "sobol", "applications", "GBR", [2005, 2010])
    assert "in 2005,2010" in s
    _, s = _answer(ind, "sobol", "applications", "GBR", [2005, 2006, 2007])
    assert "in 2005-2007" in s


def test_calibrate_fits_the_span_a_pair_names(monkeypatch, tmp_path):
    import onward.calibration.abc as abc

    seen = {}

    def fake(sc, years=None):
        seen["years"] = years
        raise RuntimeError("stop")

    monkeypatch.setattr(abc, "fitting_targets", fake)
    with pytest.raises(RuntimeError, match="stop"):
        abc.calibrate("toy", name="fit", budget=10, years=(2000, 2003),
                      store=tmp_path / "s.duckdb")
    assert seen["years"] == [2000, 2001, 2002, 2003]


# --- names -----------------------------------------------------------------------------------


def test_one_string_is_a_list_of_one_name(short, alt, tmp_path):
    """outputs='applications' was read letter by letter ("outputs='a, p, p, l, ...':
    unknown"), destinations='CRP' as C, R, P ("destinations C is not a destination")."""
    from onward.experiments.ensemble import ensemble

    db = tmp_path / "s.duckdb"
    res = ensemble(short, n=1, workers=1, store=db, outputs="applications")
    assert set(res.values.output) == {"applications"}
    res = compare(short, [alt], n=1, workers=1, store=db, outputs="applications",
                  destinations="CRP")
    assert set(res.effects.destination) == {"CRP"}


def test_names_of_a_wrong_type_are_a_type_error():
    from onward.arguments import names_arg

    assert names_arg(("a", "b"), "outputs") == ["a", "b"]
    with pytest.raises(TypeError, match=r"^outputs=3: outputs takes a name or a list"):
        names_arg(3, "outputs")


# --- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda db: onward.calibrate("toy", name="x", budget="100", store=db),
     "budget='100': budget takes a whole number (an int), not str"),
    (lambda db: onward.calibrate("toy", name=1, budget=10, store=db),
     "name=1: name takes text (a str), not int"),
    (lambda db: onward.calibrate("toy", name="x", budget=10, min_epsilon="0", store=db),
     "min_epsilon='0': min_epsilon takes a number"),
    (lambda db: onward.calibrate("toy", name="x", budget=10, workers="2", store=db),
     "workers='2': workers takes a whole number (an int) or None, not str"),
    (lambda db: onward.score("fit1", draws="5", store=db),
     "draws='5': draws takes a whole number (an int), not str"),
    (lambda db: onward.ensemble("toy", until="2025", store=db),
     "until='2025': until takes a whole number (an int) or None, not str"),
    (lambda db: onward.ensemble("toy", n="2", store=db), "n '2': give a whole number of "
     "replicates >= 1 (an int, not str)"),
    (lambda db: onward.simulate("toy", overrides="destinations.CRP.detection=0.9"),
     "overrides='destinations.CRP.detection=0.9': overrides takes a dict or None, not str. "
     "Fix: give {'destinations.DEST.detection': 0.5}"),
    (lambda db: onward.sensitivity("toy", method="morris", n="4", store=db),
     "n='4': n takes a whole number"),
    (lambda db: onward.destinations("toy", period="5", store=db),
     "period='5': period takes a whole number"),
])
def test_a_wrong_type_is_a_type_error_naming_the_keyword(call, message, tmp_path):
    """'<' not supported between instances of 'str' and 'int', "'int' object is not
    iterable" and "'str' object has no attribute 'items'" named neither the keyword nor
    what it takes."""
    with pytest.raises(TypeError) as info:
        call(tmp_path / "s.duckdb")
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)  # (what the range checks raised, still caught)


def test_overrides_of_the_wrong_type_point_to_no_missing_flag():
    """overrides='KEY=VALUE' was told "the command line's --set KEY=VALUE is {KEY: VALUE}
    here", but the command line has no --set: the fix names only what exists."""
    with pytest.raises(TypeError) as info:
        onward.simulate("toy", overrides="destinations.CRP.detection=0.9")
    assert "--set" not in str(info.value), str(info.value)
    assert "Fix: give {'destinations.DEST.detection': 0.5}" in str(info.value)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_calibration_name_is_refused(name, tmp_path):
    """calibrate(name='') fitted and stored a calibration under ''."""
    from onward.calibration import CalibrationError
    from onward.store import Store

    db = tmp_path / "s.duckdb"
    with pytest.raises(CalibrationError, match=r"a calibration needs a name .* name='fit'"):
        onward.calibrate("toy", name=name, budget=10, store=db)
    assert Store(db).list_runs().empty


# --- calibrations by name --------------------------------------------------------------------


def fake_calibration(store, name: str = "fit", scenario: str = "toy", particles: int = 4,
                     weights=None):
    """A finished one-generation calibration of ``scenario`` written straight to ``store``
    (its particles at the middle of each prior), without running pyabc."""
    import json

    import pandas as pd

    from onward.calibration.abc import _versions
    from onward.scenario import load_scenario, scenario_hash, scenario_to_yaml
    from onward.store import Store

    sc = load_scenario(scenario)
    free = sc.free_parameters()
    settings = {"scenario": sc.name, "scenario_hash": scenario_hash(sc), "seed": 1,
                "population": particles, "budget": 10, "min_epsilon": 0.0,
                "max_generations": 1, "years": sc.calibration.years,
                "scenario_yaml": scenario_to_yaml(sc)}
    w = weights if weights is not None else [1.0 / particles] * particles
    long = [{"name": name, "generation": 0, "particle": k, "parameter": p,
             "value": (free[p].prior[0] + free[p].prior[1]) / 2, "weight": w[k]}
            for k in range(particles) for p in free]
    gen = pd.DataFrame([{"name": name, "generation": 0, "epsilon": 1.0,
                         "particles": particles, "samples": particles,
                         "acceptance_rate": 1.0, "effective_sample_size": float(particles),
                         "total_simulations": 10, "settings": json.dumps(settings)}])
    Store(store).write_run({"kind": "calibration", "scenario": sc.name,
                            "scenario_hash": settings["scenario_hash"], "seed": 1,
                            "calibration": name, "generation": 0, "versions": _versions()},
                           {"posterior": pd.DataFrame(long), "generations": gen})


def test_score_takes_the_calibration_by_keyword(tmp_path):
    """score(name='fit1') failed: "missing 1 required positional argument: 'scenario'",
    though score('fit1') works and the docs show it."""
    db = tmp_path / "s.duckdb"
    fake_calibration(db)
    by_keyword = onward.score(name="fit", draws=2, store=db)
    assert by_keyword["calibration"] == onward.score("fit", draws=2, store=db)["calibration"]
    with pytest.raises(TypeError, match="give the calibration's name"):
        onward.score(store=db)


def test_score_under_a_scenario_the_posterior_was_not_fitted_to(tmp_path):
    """score('nk-onward', 'fit') of a toy fit failed as an OverrideError "destinations.CRP.
    recognition_rate: destination CRP is not in this scenario"."""
    from onward.calibration import CalibrationError

    db = tmp_path / "s.duckdb"
    fake_calibration(db)
    with pytest.raises(CalibrationError) as info:
        onward.score("nk-onward", "fit", draws=2, store=db)
    said = str(info.value)
    assert said.startswith("'fit' was fitted to toy, not nk-onward: nk-onward has nothing "
                           "to set for destinations.CRP.recognition_rate")
    assert "Fix: score it under its own scenario, onward.score('fit')" in said


# --- objects where a name is expected --------------------------------------------------------


def test_a_posterior_object_serves_as_its_name(tmp_path):
    """ensemble(posterior=onward.load_posterior('fit1')) failed with NotImplementedError
    'eq not implemented for Posterior'."""
    db = tmp_path / "s.duckdb"
    fake_calibration(db)
    post = onward.load_posterior("fit", db)
    by_object = onward.ensemble("toy", n=2, posterior=post, workers=1, store=db, until=2020)
    by_name = onward.ensemble("toy", n=2, posterior="fit", workers=1, store=db, until=2020)
    assert by_object.experiment_id == by_name.experiment_id
    assert onward.score(post, draws=1, store=db)["calibration"] == \
        onward.score("fit", draws=1, store=db)["calibration"]
    with pytest.raises(TypeError, match=r"^posterior=3: posterior takes a calibration's name"):
        onward.ensemble("toy", n=2, posterior=3, store=db)


def test_a_dataframe_is_not_a_scenario():
    """simulate(DataFrame) was looked for as a file named by the DataFrame's printout."""
    import pandas as pd

    with pytest.raises(TypeError) as info:
        onward.simulate(pd.DataFrame({"a": [1]}))
    said = str(info.value)
    assert said.startswith("scenario=<DataFrame>: scenario takes a built-in scenario's name")
    assert said.endswith("not DataFrame") and "\n" not in said


def test_report_takes_an_id_a_number_or_an_experiment_result(tmp_path):
    """report(1) and report(res) failed with AttributeError: 'strip'."""
    from onward.report import report

    db = tmp_path / "s.duckdb"
    run_id, res = onward.run("toy", seed=1, store=db)
    assert report(1, db, tmp_path / "a.html").name == "a.html"
    with pytest.raises(TypeError, match=r"Fix: onward\.run returns \(run_id, result\); pass "
                       "its run_id"):
        report(res, db)
    ens = onward.ensemble("toy", n=1, workers=1, store=db)
    assert report(ens, db, tmp_path / "e.html").exists()


# --- results print on one line ---------------------------------------------------------------


def test_results_print_on_one_line(short, tmp_path):
    """repr(SensitivityResult) ran to 8,756 characters (every DataFrame), and so did a
    DestinationsResult's; an ensemble of one said '1 replicates'."""
    import warnings

    from onward.experiments.destinations import destinations
    from onward.experiments.ensemble import ensemble
    from onward.experiments.sensitivity import sensitivity

    db = tmp_path / "s.duckdb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sa = sensitivity(short, method="morris", n=2, workers=1, store=db)
    text = repr(sa)
    assert "\n" not in text and len(text) < 300
    assert text.startswith(f"SensitivityResult({sa.experiment_id!r}: morris, applications at ")
    text = repr(destinations(short, n=1, workers=1, store=db))
    assert "\n" not in text and "1 replicate;" in text
    assert ": 1 replicate, outputs" in repr(ensemble(short, n=1, workers=1, store=db))


# --- warnings point at the caller ------------------------------------------------------------


def test_warnings_point_at_the_callers_line(tmp_path):
    """DegeneratePosterior pointed at score.py:154 (where score loads the posterior) and
    PosteriorLeftOut at ensemble.py:245, not at the line of the script that called them."""
    import warnings

    from onward.calibration import DegeneratePosterior, PosteriorLeftOut

    db = tmp_path / "s.duckdb"
    fake_calibration(db, particles=20, weights=[0.9] + [0.1 / 19] * 19)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onward.score("fit", draws=1, store=db)
        onward.load_posterior("fit", db)
        onward.ensemble("nk-onward", n=1, posterior="fit", workers=1, store=db, until=2025)
    where = {(w.category, w.filename) for w in caught
             if w.category in (DegeneratePosterior, PosteriorLeftOut)}
    assert where == {(DegeneratePosterior, __file__), (PosteriorLeftOut, __file__)}


# --- docstrings ------------------------------------------------------------------------------


@pytest.mark.parametrize("func", ["calibrate", "run"])
def test_every_parameter_is_described(func):
    """help(onward.calibrate) did not describe scenario, name, seed, store or
    max_generations; help(onward.run) was one line."""
    import inspect

    f = getattr(onward, func)
    doc = inspect.getdoc(f)
    for p in inspect.signature(f).parameters:
        assert f"\n{p} :" in doc, f"{func} does not describe {p}"
    assert "Returns" in doc


def test_run_says_where_it_stores_and_score_describes_its_metrics():
    import inspect

    doc = " ".join(inspect.getdoc(onward.run).split())
    assert "ONWARD_STORE" in doc and "./onward.duckdb" in doc and "(run_id, result)" in doc
    doc = inspect.getdoc(onward.score)
    assert "module docstring" not in doc
    for metric in ("ard", "mase", "coverage50", "coverage90"):
        assert f"``{metric}``" in doc


def test_a_years_label_reads_back_as_its_years():
    """The report rebuilt a sensitivity sentence's years from the stored label by its
    first and last year, so '2000-2004' came back as 2000 and 2004 ('2000,2004')."""
    from onward.arguments import label_years

    for years in ([2000, 2001, 2002], [2010, 2015], [2010]):
        assert label_years(years_label(years)) == years
    assert label_years("") == [] and label_years("nan") == []


@pytest.mark.parametrize("name", ["run-0001", "3", "latest", "Latest", "ensemble-1a2b3c4d5e6f"])
def test_a_calibration_name_that_reads_as_a_run_or_experiment_id_is_refused(name, tmp_path):
    """A calibration named run-0001, 3, latest or ensemble-... was stored, but `onward
    report NAME` and `onward export NAME` read such a name as a run or experiment id (the
    export of 'run-0001' wrote the store's run-0001, not the calibration). It is refused
    before anything runs, naming the keyword and the fix."""
    from onward.calibration import CalibrationError

    with pytest.raises(CalibrationError) as info:
        onward.calibrate("toy", name=name, budget=10, store=tmp_path / "s.duckdb")
    said = str(info.value)
    assert said.startswith(f"name={name!r}: "), said
    assert "Fix: " in said and not (tmp_path / "s.duckdb").exists()
