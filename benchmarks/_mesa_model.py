"""The benchmark model in Mesa 3: plain agents holding an integer location.

Run in the benchmark virtualenv by ``benchmarks/run.py``; prints one JSON line. Each agent
is a ``mesa.Agent`` with an ``int`` location; a step is ``model.agents.do(Walker.step)``
(Mesa's fastest idiom here: passing the function skips a ``getattr`` per agent, and the
order does not matter because agents do not interact). The neighbour is drawn by bisecting
each location's cumulative weights with the model's ``random.Random``.
"""

from __future__ import annotations

import bisect
import gc
import time

import mesa
from _measure import CPU, cli, emit, peak_bytes, reset_peak, rss_bytes, timed_steps

from benchmarks import _spec


class Walker(mesa.Agent):
    __slots__ = ("loc",)

    def __init__(self, model: MoveModel, loc: int) -> None:
        super().__init__(model)
        self.loc = loc

    def step(self) -> None:
        m = self.model
        r = m.random.random()
        i = self.loc
        if r < m.move_chance[i]:
            cum = m.cum[i]
            self.loc = m.nbrs[i][bisect.bisect_right(cum, m.random.random() * cum[-1])]


class MoveModel(mesa.Model):
    def __init__(self, spec: dict, seed: int) -> None:
        try:
            super().__init__(rng=seed)
        except TypeError:  # Mesa < 3.2 (an older Python) takes seed=
            super().__init__(seed=seed)
        n = len(spec["names"])
        self.move_chance = [float(c) for c in spec["move_chance"]]
        self.nbrs: list[list[int]] = [[] for _ in range(n)]
        self.cum: list[list[float]] = [[] for _ in range(n)]
        for i, j, d in spec["links"]:
            for a, b in ((i, j), (j, i)):
                w = float(spec["score"][b]) / (_spec.SOFTENING + d)
                self.nbrs[a].append(b)
                self.cum[a].append((self.cum[a][-1] if self.cum[a] else 0.0) + w)

    def add_agents(self, start) -> None:
        for loc in start.tolist():
            Walker(self, loc)

    def step(self) -> None:
        self.agents.do(Walker.step)


def main() -> None:
    args = cli(__doc__.splitlines()[0])
    t_start = time.perf_counter()
    spec = _spec.model()
    model = MoveModel(spec, args.seed)
    start = _spec.start_locations(spec, args.agents)
    base = rss_bytes()
    reset_peak()
    model.add_agents(start)
    gc.freeze()  # the agents are long-lived: keep the cyclic GC from rescanning them
    setup = time.perf_counter() - t_start
    times = timed_steps(lambda t: model.step(), args.steps, args.budget, setup)
    loc = [a.loc for a in model.agents]
    shares = _spec.shares(__import__("numpy").array(loc), len(spec["names"]))
    emit(framework="mesa", version=mesa.__version__, agents=args.agents, steps=args.steps,
         steps_done=len(times), cores=1, setup_s=setup, run_s=sum(times), cpu_s=CPU["s"],
         step_times=times,
         peak_increase_bytes=peak_bytes() - base, shares=shares.tolist())


if __name__ == "__main__":
    main()
