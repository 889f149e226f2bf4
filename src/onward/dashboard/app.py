"""The Solara page of ``onward dashboard``: layout and wiring, nothing else.

Each browser tab is its own session with its own state. Every value the page sends goes
through :func:`onward.dashboard.inputs.check_setting` on the server before anything runs;
a bad value shows a message next to the Run button and the session carries on.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd
import solara
import solara.lab

from onward.analysis.numbers import count_text
from onward.analysis.runs import claim_total_text
from onward.dashboard.inputs import (
    NO_EVENT,
    InputError,
    Setting,
    Slider,
    check_setting,
    events,
    focus_destination,
    override_targets,
    sliders,
)
from onward.dashboard.results import (
    ExperimentView,
    Outcome,
    chart_for,
    compare_scenarios,
    compare_totals,
    load_choice,
    run_checked,
    run_setting,
    scenario_choices,
    stored_experiment,
    stored_experiments,
    stored_flows,
    stored_runs,
    totals_shown,
    years_text,
)

#: Environment variables the launcher sets (see :mod:`onward.dashboard.server`).
ENV_STORE = "ONWARD_STORE"
ENV_SCENARIOS = "ONWARD_DASHBOARD_SCENARIOS"


def _store() -> Path | None:
    text = os.environ.get(ENV_STORE, "").strip()
    return Path(text) if text else None


def _scenario_folder() -> Path:
    return Path(os.environ.get(ENV_SCENARIOS, "") or ".").absolute()


def _table_html(df: pd.DataFrame, css: str) -> str:
    def fmt(x: Any) -> str:
        if isinstance(x, float) and x != x:
            return "–"
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return count_text(x, ",") if abs(x) >= 100 or float(x).is_integer() \
                else f"{x:.2f}"
        return str(x)

    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_numeric_dtype(shown[col]) and not pd.api.types.is_bool_dtype(
                shown[col]):
            shown[col] = [fmt(v) for v in shown[col]]
    return shown.to_html(index=False, escape=True, border=0, classes=[css, "onward-table"],
                         na_rep="–")


STYLE = """
.onward-table { border-collapse: collapse; font-size: 13px; }
.onward-table th, .onward-table td { padding: 2px 10px; text-align: right; }
.onward-table th:first-child, .onward-table td:first-child { text-align: left; }
.onward-table tr:nth-child(even) { background: #f4f6f8; }
.onward-number { font-size: 28px; font-weight: 600; }
.onward-flows img, .onward-experiment img { max-width: 100%; height: auto; }
.onward-compare > .col, .onward-compare .col { min-width: 0; max-width: 50%; flex: 1 1 0; }
.onward-main { min-width: 0; max-width: 100%; overflow-x: hidden; }
/* a long event label is cut with an ellipsis (it widened the side panel over the results) */
.onward-event, .onward-event .v-input__control, .onward-event .v-input__slot,
.onward-event .v-select__slot { max-width: 100%; min-width: 0; }
.onward-event .v-select__selections { flex-wrap: nowrap; min-width: 0; overflow: hidden; }
.onward-event .v-select__selection { white-space: nowrap; overflow: hidden;
                                     text-overflow: ellipsis; max-width: 100%; }
.v-navigation-drawer { max-width: 400px !important; }
.v-navigation-drawer__content, .v-navigation-drawer__content > div { max-width: 100%;
                                                                    overflow-x: hidden; }
"""


@solara.component
def ParamSlider(slider: Slider, values: solara.Reactive[dict[str, Any]]):
    """One parameter slider bound to the session's dict of chosen values."""
    current = values.value.get(slider.target, slider.default)

    def set_value(v: float) -> None:
        values.set({**values.value, slider.target: v})

    css = "onward-slider-" + slider.target.replace(".", "-")
    with solara.Column(gap="0px", classes=["onward-slider", css]):
        solara.Text(f"{slider.label}: {current:g}", style={"font-size": "13px"})
        solara.SliderFloat("", value=current, min=slider.low, max=slider.high,
                           step=slider.step, on_value=set_value)


@solara.component
def Totals(outcome: Outcome, focus: str, name: str):
    """The headline numbers of the focus destination, and what was run."""
    assert outcome.totals is not None
    t = outcome.totals
    row = t[t.destination == focus]
    sim = float(row.simulated.iloc[0]) if len(row) else 0.0
    seen = row.observed.notna().any() if len(row) else False
    with solara.Row(style={"align-items": "baseline", "gap": "24px"}):
        with solara.Column(gap="0px"):
            solara.Text(f"{focus}: simulated first claims, all years")
            solara.v.Html(tag="span", children=[count_text(sim, ",")],
                          class_=f"onward-number onward-total-{name}")
        if seen:
            with solara.Column(gap="0px"):
                obs = claim_total_text(next(row.itertuples()))[0]  # a range if masked
                same = float(row.simulated_observed_years.iloc[0])
                solara.Text(f"{focus}: observed ({outcome.observed_source}) vs simulated, "
                            "same years")
                solara.v.Html(tag="span", children=[f"{obs} vs {count_text(same, ',')}"],
                              class_=f"onward-number onward-observed-{name}")
        solara.Text(f"engine {outcome.engine_seconds:.1f} s")
    solara.Text(outcome.description, classes=[f"onward-description-{name}"])


@solara.component
def TotalsTable(outcome: Outcome, name: str):
    """First claims per destination: simulated, and simulated vs observed on observed years."""
    assert outcome.totals is not None
    shown = totals_shown(outcome.totals, f"observed ({outcome.observed_source})")
    solara.HTML(tag="div", unsafe_innerHTML=_table_html(shown, f"onward-totals-{name}"))


@solara.component
def Flows(outcome: Outcome, name: str):
    """The flows chart of one outcome (a PNG drawn by the worker that ran it)."""
    with solara.Div(classes=["onward-flows", f"onward-flows-{name}"]):
        if outcome.chart:
            # the URI is base64 we made ourselves, so building the tag by hand is safe
            solara.HTML(tag="div", unsafe_innerHTML=(
                f'<img src="{outcome.chart}" alt="first asylum claims per destination and '
                'year, simulated (line) and observed (dots)">'))
        else:
            solara.Warning("No chart for this result.")


@solara.component
def Compare(a: Outcome | None, b: Outcome | None, focus: str):
    if a is None or b is None:
        solara.Info("Run a setting, press 'Keep as A', change something and run again: "
                    "A and the latest run then show here side by side.")
        return
    assert a.totals is not None and b.totals is not None
    warning, note = compare_scenarios(a, b)
    if warning:  # a policy comparison is of one scenario's two settings, or of a variant
        solara.Warning(warning, classes=["onward-two-scenarios"])
    if note:
        solara.Info(note, classes=["onward-variant"])
    diff, problems = compare_totals(a, b)
    for problem in problems:  # different years: no B - A
        solara.Error(problem, classes=["onward-different-years"])
    solara.HTML(tag="div", unsafe_innerHTML=_table_html(diff, "onward-diff"))
    solara.Text("Each chart has its own vertical scale: compare the numbers, not the heights.",
                style={"font-size": "12px", "color": "#555"})
    with solara.Columns([1, 1], classes=["onward-compare"]):
        for label, o in (("A", a), ("B (latest)", b)):
            with solara.Column():
                # plain text: solara.Markdown would load KaTeX, which solara-assets lacks
                solara.Text(f"{label}, {years_text(o.years)}: {o.description}",
                            style={"font-weight": "600"})
                # each run's own headline destination (a toy run has no GBR)
                dests = list(o.totals.destination)
                shown = (focus if focus in dests else "GBR" if "GBR" in dests
                         else str(dests[0]))
                Totals(o, shown, label[0].lower())
                Flows(o, f"compare-{label[0].lower()}")
                TotalsTable(o, label[0].lower())


@solara.component
def Experiment(view: ExperimentView):
    """One stored experiment: what was run, then its charts and tables."""
    with solara.Column(gap="4px", classes=["onward-experiment",
                                           f"onward-experiment-{view.kind}"]):
        for note in view.notes:  # jobs missing: the numbers use the finished ones only
            solara.Warning(note, classes=["onward-experiment-incomplete"])
        solara.HTML(tag="div", unsafe_innerHTML=_table_html(view.facts, "onward-exp-facts"))
        for part in view.parts:
            solara.Text(part.title, style={"font-weight": "600", "margin-top": "10px"})
            if part.text:
                solara.Text(part.text, style={"font-size": "13px"})
            if part.chart:
                with solara.Div(classes=[f"onward-exp-{part.name}"]):
                    # the URI is base64 we made ourselves, so building the tag is safe
                    solara.HTML(tag="div", unsafe_innerHTML=(
                        f'<img src="{part.chart}" alt="{html.escape(part.title)}">'))
            if part.table is not None:
                solara.HTML(tag="div", unsafe_innerHTML=_table_html(
                    part.table, f"onward-exp-{part.name}"))


@solara.component
def StoredRuns(store: Path | None, on_open):
    """Browse the store: its runs (each can be shown and opened) and its experiments (each
    can be shown); each read opens and closes the file."""
    table, set_table = solara.use_state(None)
    experiments, set_experiments = solara.use_state(None)
    message, set_message = solara.use_state("")
    picked, set_picked = solara.use_state("")
    flows, set_flows = solara.use_state(None)
    experiment, set_experiment = solara.use_state("")
    reads, set_reads = solara.use_state(0)  # Refresh reads the experiment shown again
    # read and drawn in a worker while the page stays live (a comparison's charts take
    # seconds on a busy machine)
    shown = solara.lab.use_task(
        lambda: stored_experiment(store, experiment) if experiment else None,
        dependencies=[experiment, reads])

    def refresh() -> None:
        df, msg = stored_runs(store)
        set_table(df)
        exp, exp_msg = stored_experiments(store) if df is not None else (None, "")
        set_experiments(exp)
        set_message(msg or exp_msg)
        set_reads(lambda n: n + 1)

    def show(run_id: str) -> None:
        set_picked(run_id)
        df, msg = stored_flows(store, run_id)
        chart = ""
        if df is not None:
            chart, msg = chart_for(df, f"stored {run_id}")
        set_flows(Outcome(True, [], f"stored {run_id}", df, chart=chart) if chart else None)
        set_message(msg)

    solara.use_effect(refresh, [])
    with solara.Row():
        solara.Button("Refresh", on_click=refresh, icon_name="mdi-refresh",
                      classes=["onward-refresh"])
        solara.Text(f"store: {store or 'onward.duckdb (or $ONWARD_STORE)'}")
    if message:
        solara.Warning(message)
    if table is None:
        return
    if table.empty:
        solara.Info("No runs in the store yet; `onward run` writes one.")
    else:
        ids = [str(r) for r in table.run_id]
        with solara.Div(classes=["onward-run-select"]):
            solara.Select("Show run", value=picked if picked in ids else None, values=ids,
                          on_value=show)
        if flows is not None and picked:
            solara.Button(f"Open {picked}'s scenario in the controls",
                          on_click=lambda: on_open(picked), classes=["onward-open-run"])
            Flows(flows, "stored")
        solara.HTML(tag="div", unsafe_innerHTML=_table_html(table, "onward-runs"))
    if experiments is not None and not experiments.empty:
        solara.Text("Experiments (compare, sensitivity, destinations, ensemble): pick one "
                    "to show it here; `onward report EXPERIMENT` writes its report.",
                    style={"font-weight": "600", "margin-top": "12px"})
        ids = list(dict.fromkeys(str(x) for x in experiments.experiment if x))
        with solara.Div(classes=["onward-experiment-select"]):
            solara.Select("Show experiment", value=experiment if experiment in ids else None,
                          values=ids, on_value=set_experiment)
        if experiment and shown.pending:
            solara.Text(f"Reading {experiment} ...", classes=["onward-experiment-reading"])
            solara.ProgressLinear(True)
        elif experiment and shown.finished and shown.value is not None:
            view, problem = shown.value
            if view is None:  # its rows are missing, or the store is busy: say what to do
                solara.Warning(problem, classes=["onward-experiment-warning"])
            elif view.experiment == experiment:  # (not the last pick's, for a moment)
                Experiment(view)
        solara.HTML(tag="div", unsafe_innerHTML=_table_html(experiments, "onward-experiments"))


@solara.component
def Page():
    store = _store()
    folder = _scenario_folder()
    choices = solara.use_memo(lambda: scenario_choices(folder), [])
    key = solara.use_reactive(next(iter(c for c in choices if c.endswith("nk-onward")),
                                   next(iter(choices))))
    sc, load_message = solara.use_memo(lambda: load_choice(key.value, folder, store),
                                       [key.value])
    opened = solara.use_reactive({})  # scenarios of stored runs opened from "Stored runs"
    values = solara.use_reactive({})
    seed = solara.use_reactive("")
    until = solara.use_reactive("")
    overrides = solara.use_reactive("")
    event_label = solara.use_reactive(NO_EVENT)
    event_date = solara.use_reactive("")
    messages = solara.use_reactive([])
    latest = solara.use_reactive(None)
    pinned = solara.use_reactive(None)

    def scenario_controls_back() -> None:  # the sliders and the event at the scenario's
        values.set({})
        event_label.set(NO_EVENT)
        event_date.set("")

    def reset_inputs() -> None:
        """Every input back to the scenario's (the Reset button; it kept the seed, the last
        year and the overrides, and threw away the result shown)."""
        scenario_controls_back()
        seed.set("")
        until.set("")
        overrides.set("")

    def new_scenario() -> None:  # another scenario: its own sliders, and no result yet
        scenario_controls_back()
        latest.set(None)

    solara.use_effect(new_scenario, [key.value])
    controls = sliders(sc) if sc is not None else []
    event_list = events(sc) if sc is not None else []
    by_label = {e.label: e for e in event_list}

    def pick_event(label: str) -> None:
        event_label.set(label)
        event_date.set(by_label[label].date if label in by_label else "")

    def simulate_now() -> Outcome:
        if sc is None:
            return Outcome(False, [load_message])
        chosen = by_label.get(event_label.value)
        setting = Setting(values=dict(values.value), seed=seed.value, until=until.value,
                          event=chosen.key if chosen else "", event_date=event_date.value,
                          overrides=overrides.value)
        try:
            checked = check_setting(sc, setting)
        except InputError as exc:
            return Outcome(False, exc.messages)
        except Exception as exc:  # never let a value from the page take the session down
            return Outcome(False, [f"Could not check the values: {type(exc).__name__}: {exc}"])
        return run_checked(checked)

    def open_run(run_id: str) -> None:
        opened.set({**opened.value, f"run:{run_id}": f"{run_id}'s scenario (stored)"})
        key.set(f"run:{run_id}")
        # the run's seed and overrides (a posterior's values) come with its file
        run_seed, run_overrides = run_setting(run_id, store)
        seed.set(run_seed)
        overrides.set(run_overrides)

    task = solara.lab.use_task(simulate_now, dependencies=None)

    def on_done() -> None:
        if task.finished and task.value is not None:
            outcome = task.value
            messages.set(outcome.messages)
            # the messages replace the result: a result left below them read as the
            # outcome of the values that failed (and could be kept as A)
            latest.set(outcome if outcome.ok else None)

    solara.use_effect(on_done, [task.finished, task.value])

    solara.Style(STYLE)
    solara.Title("onward dashboard")
    with solara.AppBar():
        solara.Text("onward: onward migration, simulated")
    with solara.Sidebar():
        offered = {**choices, **opened.value}
        solara.Select("Scenario", value=offered.get(key.value, ""),
                      values=list(offered.values()),
                      on_value=lambda label: key.set(  # an unknown label changes nothing
                          next((k for k, v in offered.items() if v == label), key.value)),
                      classes=["onward-scenario"])
        if load_message:
            solara.Error(load_message)
        for s in controls:
            ParamSlider(s, values)
        if event_list:
            solara.Select("Policy event to move", value=event_label.value,
                          values=[NO_EVENT] + list(by_label), on_value=pick_event,
                          classes=["onward-event"])
            if event_label.value in by_label:
                solara.InputText("Policy date (YYYY, YYYY-MM or YYYY-MM-DD)",
                                 value=event_date, continuous_update=True,
                                 classes=["onward-event-date"])
        solara.InputText("Seed (empty: the scenario's)", value=seed, continuous_update=True,
                         classes=["onward-seed"])
        solara.InputText("Last year (empty: whole horizon)", value=until,
                         continuous_update=True, classes=["onward-until"])
        with solara.Div(classes=["onward-overrides"]):
            solara.InputTextArea("More parameters, one 'target = value' per line",
                                 value=overrides, rows=3, continuous_update=True)
        # a slider whose parameter the field also sets shows a value that is not run
        written = override_targets(str(overrides.value or ""))
        shadowed = [c.label for c in controls if c.target in written]
        if shadowed:
            solara.Text("The field above sets " + "; ".join(shadowed) + ": its values run, "
                        "not the sliders'.", classes=["onward-shadowed"],
                        style={"font-size": "12px", "color": "#8a5a00"})
        with solara.Row():
            solara.Button("Run", on_click=task, color="primary", disabled=task.pending,
                          classes=["onward-run"])
            solara.Button("Reset", on_click=reset_inputs, disabled=task.pending,
                          classes=["onward-reset"])
            solara.Button("Keep as A", disabled=latest.value is None,
                          on_click=lambda: pinned.set(latest.value), classes=["onward-pin"])
    with solara.Column(style={"padding": "12px"}, classes=["onward-main"]):
        if task.pending:
            solara.Text("Running ...", classes=["onward-running"])
            solara.ProgressLinear(True)
        elif task.error:  # not expected: simulate_now catches everything it can
            solara.Error(f"The run stopped: {task.exception}", classes=["onward-message"])
        for m in messages.value:
            solara.Error(m, classes=["onward-message"])
        with solara.lab.Tabs():
            with solara.lab.Tab("Flows"):
                if latest.value is None:
                    solara.Info("Set the sliders and press Run. The chart shows simulated "
                                "first asylum claims per destination and year; dots are "
                                "UNHCR's observed counts (bars: counts 1-5, which UNHCR "
                                "masks), shading the held-out years.")
                else:
                    focus = focus_destination(sc) if sc is not None else ""
                    Totals(latest.value, focus, "latest")
                    Flows(latest.value, "latest")
                    TotalsTable(latest.value, "latest")
            with solara.lab.Tab("Compare"):
                Compare(pinned.value, latest.value,
                        focus_destination(sc) if sc is not None else "")
            with solara.lab.Tab("Stored runs"):
                StoredRuns(store, on_open=open_run)
