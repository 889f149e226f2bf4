"""The benchmark environment: a virtualenv holding Flee 3.1 and Mesa, next to onward.

Flee and Mesa are not dependencies of onward; the benchmarks run them in a virtualenv of
their own so that their pins (Mesa 3.x needs Python >= 3.12) never touch the project's
environment. ``ensure_env`` builds it once and returns its interpreter; later calls only
check that the packages import.

    >>> from benchmarks._env import ensure_env          # doctest: +SKIP
    >>> py = ensure_env()                               # doctest: +SKIP
    >>> subprocess.run([py, "-c", "import flee, mesa"]) # doctest: +SKIP

onward itself is not installed there: the harness runs onward in the interpreter that
runs the harness (the project's own environment) and Flee and Mesa in this one, each run in
a subprocess of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYENV_PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python")
FLEE = "flee==3.1"
# Mesa 3.x is the current API (model.agents, AgentSet.shuffle_do); it needs Python >= 3.12.
# On an older interpreter pip falls back to the newest Mesa that installs there.
MESA = "mesa"
CHECK = "import flee, mesa, numpy"
# pflee (Flee's MPI version) needs an MPI library under mpi4py; the `mpich` wheel brings
# one (libmpi + mpiexec in the venv's bin/), so no system MPI is needed.
MPI = "mpich"
MPI_CHECK = "from mpi4py import MPI"


def _candidates() -> list[Path]:
    """Interpreters to build the venv from, best first (>= 3.12 so Mesa 3 installs)."""
    found: list[Path] = []
    env = os.environ.get("ONWARD_BENCH_PYTHON")
    if env:
        found.append(Path(env))
    found.append(PYENV_PYTHON)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        for v in sorted(root.glob("3.1[2-9]*"), reverse=True):
            found.append(v / "bin" / "python")
    for name in ("python3.13", "python3.12"):
        w = shutil.which(name)
        if w:
            found.append(Path(w))
    found.append(Path(sys.executable))  # last resort: this interpreter (older Mesa)
    return found


def base_python() -> Path:
    """The first usable interpreter from :func:`_candidates`."""
    for p in _candidates():
        if p.exists() and os.access(p, os.X_OK):
            return p
    raise RuntimeError("no Python interpreter found for the benchmark environment; "
                       "set ONWARD_BENCH_PYTHON=/path/to/python3.12")


def _venv_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ok(py: Path, check: str = CHECK) -> bool:
    if not py.exists():
        return False
    r = subprocess.run([str(py), "-c", check], capture_output=True, cwd="/")
    return r.returncode == 0


def mpiexec(py: Path) -> Path:
    """The ``mpiexec`` that came with the venv's MPI (see ``ensure_env(mpi=True)``)."""
    return py.parent / "mpiexec"


def ensure_env(path: str | os.PathLike = ".bench-env", quiet: bool = True,
               mpi: bool = False) -> Path:
    """Create (once) the benchmark virtualenv at ``path`` and return its ``python``.

    Relative paths are taken from the repository root. Idempotent: if the venv already
    imports flee, mesa and numpy, nothing is installed. ``mpi=True`` also makes sure
    pflee can run (installs the ``mpich`` wheel once). Progress goes to stderr.
    """
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    py = _venv_python(path)
    out = subprocess.DEVNULL if quiet else sys.stderr
    if _ok(py):
        if mpi and not _ok(py, MPI_CHECK):
            print(f"[bench-env] installing {MPI} into {path} for pflee", file=sys.stderr)
            subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                            "-q", MPI], check=True, stdout=out)
        return py
    if not py.exists():
        base = base_python()
        print(f"[bench-env] creating {path} with {base}", file=sys.stderr)
        subprocess.run([str(base), "-m", "venv", str(path)], check=True, stdout=out)
    print(f"[bench-env] installing {FLEE} and {MESA} into {path}", file=sys.stderr)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True, stdout=out)
    subprocess.run(pip + [FLEE, MESA, "numpy"] + ([MPI] if mpi else []), check=True,
                   stdout=out)
    if not _ok(py):
        raise RuntimeError(f"benchmark environment {path} was built but `{CHECK}` fails; "
                           f"remove {path} and run again")
    return py


if __name__ == "__main__":
    print(ensure_env(quiet=False))
