"""The benchmark model in Flee 3.1, built with Flee's own Ecosystem API.

Run in the benchmark virtualenv by ``benchmarks/run.py``; prints one JSON line.

Flee's movement reduces to the one-hop rule with these settings (read from Flee 3.1's
``flee.py`` and ``moving.py``):

* ``awareness_level: 1`` - ``calculateLinkWeight`` scores only the first link of each
  route, so a route is one neighbour with weight
  ``(weight_softening + score) / (softening + distance) ** distance_power`` =
  ``score / (10 + distance)`` (``weight_softening: 0``, ``distance_power: 1``,
  ``weight_power: 1``); capacities are unlimited (-1), so the capacity multiplier is 1.
* ``max_move_speed: S`` with every link ``S <= d < 2S`` km long: an agent that moves
  is on the link at the end of the day (``S > d`` is false), arrives the next day, and
  there makes its next move decision the same day (``evolveMore``; ``avoid_short_stints:
  false`` so the plain move chance applies). So exactly one decision per agent per day, at
  the location the agent is in or has just reached - the one-hop Markov chain. An agent on a
  link counts at the link's end point, where its next decision happens.
* ``start_on_foot: false``, no ``walk_probability``, ``movechance_pop_scale_factor: 0``,
  no camp sinks, no spawning, every location in one country (no foreign weight).
* Location scores: conflict zones ``conflict_weight`` (0.25, conflict intensity 1, no
  decay), camps ``camp_weight`` (2.0), towns 1; move chances 1.0 / 0.001 / 0.3 (defaults).

``--cores 2`` runs pflee, Flee's MPI version (start it under ``mpiexec -n 2``): agents are
dealt round-robin to the ranks, location scores are shared with MPI collectives each
step; the shares and memory are summed over the ranks and the step time is the slowest
rank's.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import CPU, cli, emit, peak_bytes, reset_peak, rss_bytes, timed_steps

from benchmarks import _spec

SETTINGS = f"""
log_levels:
  agent: 0
  link: 0
  camp: 0
  init: 0
  conflict: 0
spawn_rules:
  take_from_population: false
  insert_day0: false
  conflict_zone_spawning_only: true
  camps_are_sicks: false
move_rules:
  max_move_speed: {_spec.SPEED}
  max_walk_speed: {_spec.SPEED}
  foreign_weight: 1.0
  camp_weight: {_spec.CAMP_WEIGHT}
  conflict_weight: {_spec.CONFLICT_WEIGHT}
  conflict_movechance: {_spec.MOVE_CHANCE["conflict_zone"]}
  camp_movechance: {_spec.MOVE_CHANCE["camp"]}
  default_movechance: {_spec.MOVE_CHANCE["town"]}
  awareness_level: 1
  avoid_short_stints: false
  start_on_foot: false
  softening: {_spec.SOFTENING}
  weight_softening: 0.0
  weight_power: 1.0
  distance_power: 1.0
  stay_close_to_home: false
  use_pop_for_loc_weight: false
  movechance_pop_scale_factor: 0.0
"""


def build(spec: dict, parallel: bool = False):
    """A Flee (or pflee) Ecosystem holding the benchmark graph (stderr chatter silenced)."""
    from flee.SimulationSettings import SimulationSettings
    if parallel:
        from flee import pflee as flee
    else:
        from flee import flee

    with tempfile.TemporaryDirectory() as tmp:
        yml = Path(tmp) / "simsetting.yml"
        yml.write_text(SETTINGS)
        stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
        try:
            SimulationSettings.ReadFromYML(str(yml))
            e = flee.Ecosystem()
            for k, (name, kind) in enumerate(zip(spec["names"], spec["kinds"], strict=True)):
                e.addLocation(name, x=float(k), y=0.0, location_type=kind, country="A")
            for i, j, d in spec["links"]:
                e.linkUp(spec["names"][i], spec["names"][j], distance=d)
        finally:
            sys.stderr.close()
            sys.stderr = stderr
    mc = np.array([loc.movechance for loc in e.locations])
    score = np.array([loc.getScore(1) for loc in e.locations])
    if not (np.allclose(mc, spec["move_chance"]) and np.allclose(score, spec["score"])):
        raise RuntimeError("Flee's move chances or scores differ from the benchmark model")
    return e


def main() -> None:
    args = cli(__doc__.splitlines()[0])
    import flee
    parallel = args.cores > 1
    rank, agree, total = 0, (lambda x: x), (lambda x: x)
    if parallel:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        if comm.size != args.cores:
            raise SystemExit(f"start under mpiexec -n {args.cores} (got {comm.size} ranks)")
        rank = comm.rank
        def agree(x):  # every rank must take the same stop decision
            return comm.allreduce(x, op=MPI.MAX)
        def total(x):
            return comm.allreduce(x, op=MPI.SUM)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    t_start = time.perf_counter()
    spec = _spec.model()
    e = build(spec, parallel)
    start = _spec.start_locations(spec, args.agents)
    base = rss_bytes()
    reset_peak()
    for loc in start.tolist():
        e.addAgent(e.locations[loc], {})  # pflee keeps every cores-th agent on this rank
    gc.freeze()  # the agents are long-lived: keep the cyclic GC from rescanning them
    setup = agree(time.perf_counter() - t_start)
    times = timed_steps(lambda t: e.evolve(), args.steps, args.budget, setup,
                                        agree=agree)
    index = {id(loc): i for i, loc in enumerate(e.locations)}
    loc = np.array([index[id(a.location.endpoint if a.travelling else a.location)]
                    for a in e.agents], dtype=np.int64)
    counts = total(np.bincount(loc, minlength=len(spec["names"])))
    peak = total(peak_bytes() - base)
    cpu = total(CPU["s"])
    if rank == 0:
        emit(framework="flee", version=getattr(flee, "__version__", "3.1"),
             agents=args.agents, steps=args.steps, steps_done=len(times), cores=args.cores,
             setup_s=setup, run_s=sum(times), cpu_s=cpu, step_times=times, peak_increase_bytes=peak,
             shares=(counts / args.agents).tolist())


if __name__ == "__main__":
    main()
