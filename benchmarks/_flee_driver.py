"""Drive Flee 3.1 on one scenario folder, the way Flee's own runscripts/run.py does.

Runs in the benchmark environment (``benchmarks/_env.py``), never in onward's own. Usage::

    python _flee_driver.py FOLDER DAYS SEED OUT_CSV

Writes Flee's ``out.csv`` table to OUT_CSV and prints one JSON line on stdout with the loop
time (days 0..DAYS-1, excluding reading the inputs) and the number of agents at the end.
Each day: conflicts for the day, spawning from the UNHCR total, spawn-weight refresh,
closures, ``Ecosystem.evolve``, then the comparison of camp counts with the camp series.
"""

import json
import os
import random
import sys
import time
from datetime import datetime, timedelta

import numpy as np


def main() -> None:
    folder, days, seed, out_csv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    out_csv = os.path.abspath(out_csv)
    os.chdir(folder)  # Flee reads demographics from ./input_csv
    random.seed(seed)
    np.random.seed(seed)

    from flee import InputGeography, flee, spawning
    from flee.datamanager import handle_refugee_data, read_period
    from flee.SimulationSettings import SimulationSettings

    start_date, length = read_period.read_conflict_period("input_csv/sim_period.csv")
    end_time = days if days > 0 else length
    SimulationSettings.ReadFromYML("simsetting.yml")
    SimulationSettings.ConflictInputFile = "input_csv/conflicts.csv"
    e = flee.Ecosystem()
    ig = InputGeography.InputGeography()
    ig.ReadConflictInputCSV("input_csv/conflicts.csv")
    ig.ReadLocationsFromCSV("input_csv/locations.csv")
    ig.ReadLinksFromCSV("input_csv/routes.csv")
    ig.ReadClosuresFromCSV("input_csv/closures.csv")
    e, lm = ig.StoreInputGeographyInEcosystem(e)
    hasten = SimulationSettings.optimisations["PopulationScaleDownFactor"]
    d = handle_refugee_data.RefugeeTable(
        csvformat="generic", data_directory="source_data", start_date=start_date,
        data_layout="data_layout.csv", population_scaledown_factor=hasten)
    d.ReadL1Corrections("input_csv/registration_corrections.csv")

    camps = e.get_camp_names()
    header = ["Day", "Date"]
    for c in camps:
        spawning.add_initial_refugees(e, d, lm[c])
        header += [f"{c} sim", f"{c} data", f"{c} error"]
    header += ["Total error", "refugees in camps (UNHCR)", "total refugees (simulation)",
               "raw UNHCR refugee count", "refugees in camps (simulation)", "refugee_debt"]
    rows = [",".join(header)]
    start = datetime.strptime(start_date, "%Y-%m-%d")
    t0 = time.perf_counter()
    for t in range(end_time):
        ig.AddNewConflictZones(e, t)
        new_refs, raw, debt = spawning.spawn_daily_displaced(e, t, d)
        spawning.refresh_spawn_weights(e)
        e.enact_border_closures(t)
        e.evolve()
        obs = [d.get_field(c, t) for c in camps]
        sim = [lm[c].numAgents for c in camps]
        row = [str(t), (start + timedelta(days=t)).strftime("%Y-%m-%d")]
        for s, o in zip(sim, obs, strict=True):
            rel = 0.0 if o < 0.00001 else round(abs(s / o - 1), 4)
            row += [str(s), str(o), str(rel)]
        abs_err = sum(abs(s - o) for s, o in zip(sim, obs, strict=True))
        if raw > 0:
            row += [str(abs_err / raw), str(int(sum(obs))), str(e.numAgents()), str(raw),
                    str(sum(sim)), str(debt)]
        else:
            row += ["0.0", "0", str(e.numAgents()), "0", str(sum(sim)), "0"]
        rows.append(",".join(row))
    loop = time.perf_counter() - t0
    with open(out_csv, "w") as f:
        f.write("\n".join(rows) + "\n")
    print(json.dumps({"loop_seconds": loop, "days": end_time, "agents": e.numAgents(),
                      "seed": seed}))


if __name__ == "__main__":
    main()
