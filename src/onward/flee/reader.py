"""Read a Flee 3.1 scenario folder into a :class:`FleeCase`, checking it strictly.

The folder holds ``input_csv/`` (locations, routes, closures, conflicts, sim_period,
optional registration corrections and demographics), ``source_data/`` (UNHCR series,
``data_layout.csv``) and ``simsetting.yml``. Flee 3.1's input rules (listed in
docs/flee.md) are applied as Flee 3.1 applies them; where Flee 3.1 would crash or silently
misread a file, the reader stops with ``file:line: field: problem. Fix: ...`` instead.

>>> case = read_flee_folder("tests/data/flee/tiny")          # doctest: +SKIP
>>> case.loc_names[:2], case.camps                           # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from onward.engine.kernel import Graph
from onward.flee.errors import FleeError, Problems, read_text, semicolons
from onward.flee.series import (
    Series,
    correct_registrations,
    merge_tables,
    parse_date,
    read_series_file,
)
from onward.flee.settings import FleeSettings

KIND_TOWN, KIND_CONFLICT, KIND_CAMP, KIND_FORWARD, KIND_MARKER = 0, 1, 2, 3, 4
CLOSURE_TYPES = {"country", "location", "link", "camp", "idpcamp", "remove_forced_redirection"}


@dataclass
class Closure:
    kind: str
    name1: str
    name2: str
    start: int
    end: int
    where: str


@dataclass
class FleeCase:
    """Everything a Flee 3.1 run needs, as arrays indexed by location and link."""

    folder: Path
    name: str
    settings: FleeSettings
    warnings: list[str]
    start: date
    length: int
    loc_names: list[str]
    country: list[str]
    kind: np.ndarray            # KIND_* per location, as loaded (before day-0 events)
    idpcamp: np.ndarray         # bool
    conflict: np.ndarray        # intensity (> 0) or -1
    pop: np.ndarray             # int64, population // hasten (0 for camps)
    capacity: np.ndarray        # int64, capacity // hasten for camps, -1 otherwise
    foreign: np.ndarray         # bool: country differs from the first location's
    graph: Graph                # all links (both directions; duplicates kept as Flee does)
    edge_speed: np.ndarray      # per link: max_move_speed attribute or NaN
    edge_walk: np.ndarray       # per link: walk_probability attribute (0 when absent)
    closures: list[Closure]
    conflict_cols: list[int]    # location index per conflicts.csv column (-1: unknown name)
    conflict_values: np.ndarray  # days x columns
    total: Series
    camp_series: dict[str, Series]
    camps: list[int]            # camps at start, in location order (Flee's camp list)
    is_camp: np.ndarray         # bool, Flee's ``camp`` flag at load time
    is_town: np.ndarray         # bool, Flee's ``town`` flag at load time
    is_marker: np.ndarray       # bool
    movechance: np.ndarray      # move chance at load time
    attributes: list[dict[str, str]] = field(default_factory=list)

    @property
    def n_locations(self) -> int:
        return len(self.loc_names)

    def index(self, name: str) -> int:
        return self.loc_names.index(name)


def is_flee_folder(path: str | Path) -> bool:
    """True for a directory with ``input_csv/`` and ``source_data/``."""
    p = Path(path)
    return p.is_dir() and (p / "input_csv").is_dir() and (p / "source_data").is_dir()


def _rows(path: Path) -> list[list[str]]:
    rel = f"{path.parent.name}/{path.name}"
    return list(csv.reader(io.StringIO(read_text(path, rel), newline="")))


def _looks_like_header(row: list[str]) -> bool:
    """A locations.csv line of column names written without Flee's leading ``#``."""
    return len(row) >= 8 and row[0].strip().lower() == "name" \
        and "type" in row[5].strip().lower()


def _has_errors(pr: Problems, rel: str) -> bool:
    """Whether a file (``input_csv/locations.csv``) already has an error."""
    return any(e.startswith(f"{rel}:") for e in pr.errors)


def _int(text: str, where: str, name: str, pr: Problems, fix: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        pr.error(where, name, f"{text!r} is not a whole number", fix)
        return None


def _warn_closure_days(start: int, end: int, length: int, where: str, pr: Problems) -> None:
    """Closure days that Flee 3.1 accepts but that cannot do what they seem to: events fire
    only on day ``start`` and day ``end`` of the run (days 0 to Length - 1)."""
    last = length - 1
    if length > 0 and not 0 <= start <= last:
        pr.warn(where, "closure_start", f"day {start} is outside the period (days 0-{last} "
                "of sim_period.csv), so the closure never happens (as in Flee 3.1)")
    elif end < start:
        pr.warn(where, "closure_end", f"day {end} is before closure_start {start}: the "
                f"reopening comes first, so from day {start} the closure lasts to the end "
                "of the run (as in Flee 3.1)")


def read_flee_folder(folder: str | Path) -> FleeCase:
    """Read and check a Flee 3.1 folder; raises :class:`FleeError` listing every problem."""
    folder = Path(folder)
    if not is_flee_folder(folder):
        raise FleeError([f"{folder}:1: folder: not a Flee scenario folder (needs input_csv/ "
                         "and source_data/). Fix: give the folder that holds both"])
    pr = Problems()
    inp, src = folder / "input_csv", folder / "source_data"
    for need in ("locations.csv", "routes.csv", "sim_period.csv", "conflicts.csv"):
        if not (inp / need).is_file():
            pr.error(f"input_csv/{need}:1", "file", "missing",
                     f"add input_csv/{need} as Flee 3.1 needs it")
    if not (src / "data_layout.csv").is_file():
        pr.error("source_data/data_layout.csv:1", "file", "missing",
                 "add data_layout.csv mapping 'total' and each camp to series files")
    sset = folder / "simsetting.yml"
    if not sset.is_file():
        pr.error("simsetting.yml:1", "file", "missing", "add simsetting.yml (may be empty)")
    pr.raise_if_any()
    from onward.flee.settings import read_settings_text

    try:
        settings, swarn = read_settings_text(read_text(sset, "simsetting.yml"),
                                             "simsetting.yml")
    except FleeError as exc:  # named with the other files' errors, below
        pr.errors.extend(exc.messages)
        settings, swarn = FleeSettings(), exc.warnings
    pr.warnings.extend(swarn)
    settings_hasten = settings.hasten

    # --- sim_period.csv
    start: date | None = None
    start_row = False
    length = 0
    for i, row in enumerate(_rows(inp / "sim_period.csv")):
        where = f"input_csv/sim_period.csv:{i + 1}"
        if not row:
            continue
        if semicolons(row, where, pr):
            start_row = True  # named as separated by ';', not also as missing
            continue
        if row[0].lower() == "startdate" and len(row) > 1:
            start_row = True  # a bad date is named above, not also as missing
            try:
                start = parse_date(row[1])
            except ValueError:
                pr.error(where, "StartDate", f"{row[1]!r} is not a date YYYY-MM-DD",
                         "write StartDate,2012-02-29")
        elif row[0].lower() == "length" and len(row) > 1:
            length = _int(row[1], where, "Length", pr, "write Length,300") or 0
    if start is None and not start_row:
        pr.error("input_csv/sim_period.csv:1", "StartDate", "missing",
                 "add a line StartDate,YYYY-MM-DD")
    # the files below are checked even when one before has errors, so that one run names
    # them all; a check that needs what a refused file would give (a location's name, the
    # start date, a series) is skipped instead of reporting a consequence as a new error

    # --- locations.csv
    names: list[str] = []
    country: list[str] = []
    kinds: list[int] = []
    idp: list[bool] = []
    conflict: list[float] = []
    pops: list[int] = []
    caps: list[int] = []
    attrs: list[dict[str, str]] = []
    columns: list[str] = []
    home: str | None = None
    header: tuple[int, int] | None = None  # (line, fields) of the column names
    seen: dict[str, int] = {}
    # names of refused rows ("" for one whose name cannot be read): another file's name
    # that is not a location is reported only when it cannot be one of them
    lost: set[str] = set()
    for i, row in enumerate(_rows(inp / "locations.csv")):
        where = f"input_csv/locations.csv:{i + 1}"
        if len(row) == 0:
            continue
        if row[0] == "":
            pr.error(where, "name", "is empty (Flee 3.1 crashes on it)",
                     "write a location name or start the line with #")
            lost.add("")
            continue
        if row[0][0] == "#":
            if len(row) >= 8 and header is None:
                header = (i + 1, len(row))
            if len(row) > 8:
                columns.extend(c.strip() for c in row[8:])
            continue
        if not names and not seen and _looks_like_header(row):
            pr.error(where, "header", "this line names the columns but does not start with #, "
                     "so it is read as a location", f"write #{row[0]} (Flee 3.1 skips lines "
                     "that start with #)")
            lost.add(row[0])
            continue
        if semicolons(row, where, pr):
            lost.add("")  # (its name is not the first field)
            continue
        if len(row) < 8:
            pr.error(where, "row", f"has {len(row)} fields, needs 8 (name, region, country, "
                     "lat, lon, location_type, conflict_date, population)",
                     "complete the row")
            lost.add(row[0])
            continue
        if header is not None and len(row) == header[1] + 1 and not row[-1].strip():
            row = row[:-1]  # an empty field at the end (Excel writes one): nothing shifts
        if header is not None and len(row) != header[1]:
            # Flee 3.1 reads the fields by position: one missing or one too many shifts
            # every value after it into the wrong column
            more = len(row) > header[1]
            pr.error(where, "row", f"has {len(row)} fields where the header (line "
                     f"{header[0]}) has {header[1]}: {'one too many' if more else 'one missing'}"
                     if abs(len(row) - header[1]) == 1 else
                     f"has {len(row)} fields where the header (line {header[0]}) has "
                     f"{header[1]}",
                     ("a number written with a thousands comma splits in two: write it "
                      "without the comma (54453, not 54,453) or in quotes, or remove the "
                      "extra field") if more else "add the missing field")
            lost.add(row[0])
            continue
        name = row[0]
        if name in seen:
            pr.error(where, "name", f"{name!r} also on line {seen[name]}",
                     "give each location a unique name")
            continue
        seen[name] = i + 1
        for col, text in (("latitude", row[3]), ("longitude", row[4])):
            try:
                if text.strip():
                    float(text)
            except ValueError:  # Flee 3.1 crashes on float()
                pr.error(where, col, f"{text!r} is not a number (Flee 3.1 crashes on it)",
                         "write decimal degrees with a point, as 18.44")
        if home is None:
            home = row[2] if row[2] else "unknown"
        ctry = row[2] if row[2] else "unknown"
        ltype = row[5].lower()
        if row[7] == "":
            popv = 0
        else:
            pv = _int(row[7], where, "population", pr, "write a whole number or leave empty")
            if pv is not None and pv < 0:
                what = "a camp's capacity" if "camp" in ltype else "a population"
                pr.error(where, "population", f"{pv} is negative ({what} counts persons)",
                         "write a whole number >= 0, or leave it empty")
                pv = 0
            popv = (pv or 0) // settings_hasten
        extra = {}
        for j in range(8, len(row)):
            key = columns[j - 8] if j - 8 < len(columns) else f"column{j + 1}"
            extra[key] = row[j]
        intensity = -1.0
        is_idp = False
        if "conflict" in ltype:
            cd = _int(row[6], where, "conflict_date", pr,
                      "write 0 (conflict from day 0) or the day the conflict starts")
            if cd is not None and cd > 0:
                ltype = "town"
            if cd is not None and length > 0 and cd >= length:
                pr.warn(where, "conflict_date", f"{cd} is after the last day of the period "
                        f"(day {length - 1} of sim_period.csv's Length {length}); the location "
                        "is a town throughout unless conflicts.csv says otherwise (as in Flee "
                        "3.1)")
        if "camp" in ltype:
            k = KIND_CAMP
            is_idp = "idp" in ltype
        elif "conflict" in ltype:
            k = KIND_CONFLICT
            try:
                intensity = float(extra.get("conflict_intensity", 1.0))
            except ValueError:
                intensity = math.nan
            if not (math.isfinite(intensity) and intensity >= 0):
                pr.error(where, "conflict_intensity", f"{extra['conflict_intensity']!r} is "
                         "not a number >= 0", "write a number >= 0 (1 = Flee's default)")
                intensity = 1.0
        elif "forward" in ltype:
            k = KIND_FORWARD
        elif "marker" in ltype:
            k = KIND_MARKER
        elif "default" in ltype or "town" in ltype:
            k = KIND_TOWN
        else:
            pr.error(where, "location_type", f"{row[5]!r} is not a Flee location type",
                     "write camp, idpcamp, conflict_zone, town, default, forwarding_hub or "
                     "marker")
            k = KIND_TOWN
        names.append(name)
        country.append(ctry)
        kinds.append(k)
        idp.append(is_idp)
        conflict.append(intensity)
        if k == KIND_CAMP:
            caps.append(popv)
            pops.append(0)
        else:
            caps.append(-1)
            pops.append(popv)
        attrs.append(extra)
    if not names and _has_errors(pr, "input_csv/locations.csv"):
        lost.add("")  # (the file itself was refused: no name is known)
    locs_failed = bool(lost)

    def maybe_lost(name: str) -> bool:
        """Whether ``name`` may be a location of a refused row of locations.csv."""
        return "" in lost or name in lost

    if not names and not locs_failed:
        pr.error("input_csv/locations.csv:1", "rows", "no locations", "add location rows")
    index = {n: j for j, n in enumerate(names)}
    if settings.extra.get("camps_are_sicks") and any("deactivation_probability" in a
                                                      for a in attrs):
        pr.error("simsetting.yml:1", "spawn_rules.camps_are_sicks", "with a "
                 "deactivation_probability column Flee 3.1 compares a number with text and "
                 "crashes", "remove camps_are_sicks or the column")
    elif settings.extra.get("camps_are_sicks"):
        pr.warn("simsetting.yml:1", "spawn_rules.camps_are_sicks", "no location has a "
                "deactivation_probability column, so no agent is removed (as in Flee 3.1)")

    # --- routes.csv
    src_l: list[int] = []
    dst_l: list[int] = []
    dist_l: list[float] = []
    speed_l: list[float] = []
    walk_l: list[float] = []
    link_cols: list[str] = []
    pair_dist: dict[tuple[int, int], tuple[float, int]] = {}
    for i, row in enumerate(_rows(inp / "routes.csv")):
        where = f"input_csv/routes.csv:{i + 1}"
        if len(row) == 0:
            continue
        if row[0] == "":
            pr.error(where, "name1", "is empty (Flee 3.1 crashes on it)",
                     "write a location name or start the line with #")
            continue
        if row[0][0] == "#":
            if len(row) > 4:
                link_cols.extend(c.strip() for c in row[4:])
            continue
        if semicolons(row, where, pr):
            continue
        if len(row) < 3:
            pr.error(where, "row", "needs name1,name2,distance[,forced_redirection]",
                     "complete the row")
            continue
        a, b = index.get(row[0]), index.get(row[1])
        for nm, ix, col in ((row[0], a, "name1"), (row[1], b, "name2")):
            if ix is None and not maybe_lost(nm):
                pr.error(where, col, f"{nm!r} is not in locations.csv (Flee 3.1 exits)",
                         "fix the spelling or add the location")
        try:
            dist = float(row[2])
            if not np.isfinite(dist) or dist < 0:
                raise ValueError
        except ValueError:
            pr.error(where, "distance", f"{row[2]!r} is not a distance >= 0 in km",
                     "write the road distance in km")
            continue
        fr = 0
        if len(row) > 3:
            fr = _int(row[3] or "0", where, "forced_redirection", pr, "write 0, 1 or 2") or 0
        ext = {(link_cols[j - 4] if j - 4 < len(link_cols) else f"column{j + 1}"): row[j]
               for j in range(4, len(row))}
        try:
            sp = float(ext["max_move_speed"]) if "max_move_speed" in ext else np.nan
            wp = float(ext.get("walk_probability", "0.0") or 0.0)
        except ValueError:
            pr.error(where, "max_move_speed/walk_probability", "is not a number",
                     "write numbers")
            continue
        if a is None or b is None:
            continue
        key = (min(a, b), max(a, b))
        if key in pair_dist and pair_dist[key][0] != dist:
            pr.error(where, "distance", f"the link {row[0]}-{row[1]} is also on line "
                     f"{pair_dist[key][1]} with another distance (Flee 3.1 takes whichever "
                     "it meets first, which changes with closures)",
                     "keep one row per pair of locations")
            continue
        pair_dist[key] = (dist, i + 1)
        # forced_redirection: 1 links twice (Flee 3.1 bug), 2 links name2 -> name1 once;
        # the flag itself has no effect on movement in Flee 3.1
        ups = [(a, b), (a, b)] if fr == 1 else [(b, a)] if fr == 2 else [(a, b)]
        if fr == 1:
            pr.warn(where, "forced_redirection", "1 makes Flee 3.1 add the link twice, "
                    "doubling its weight; reproduced")
        for x, y in ups:
            for s_, d_ in ((x, y), (y, x)):
                src_l.append(s_)
                dst_l.append(d_)
                dist_l.append(dist)
                speed_l.append(sp)
                walk_l.append(wp)
    if not pair_dist and not locs_failed and not _has_errors(pr, "input_csv/routes.csv"):
        pr.error("input_csv/routes.csv:1", "rows", "no links between locations, so nobody "
                 "could move", "add a row name1,name2,distance (km) for each road")
    src_a = np.asarray(src_l, dtype=np.int64)
    dst_a = np.asarray(dst_l, dtype=np.int64)
    order = np.lexsort((dst_a, src_a)) if len(src_a) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(src_a, minlength=len(names)) if len(src_a) else np.zeros(len(names),
                                                                                 dtype=np.int64)
    indptr = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    graph = Graph(indptr, dst_a[order].astype(np.int32),
                  np.asarray(dist_l, dtype=np.float64)[order])
    edge_speed = np.asarray(speed_l, dtype=np.float64)[order]
    edge_walk = np.asarray(walk_l, dtype=np.float64)[order]

    # --- closures.csv
    closures: list[Closure] = []
    cpath = inp / "closures.csv"
    countries = set(country)
    if cpath.is_file():
        for i, row in enumerate(_rows(cpath)):
            where = f"input_csv/closures.csv:{i + 1}"
            if len(row) == 0 or (row[0] and row[0][0] == "#"):
                continue
            if len(row) < 5 or row[0] == "":
                pr.error(where, "row", "needs closure_type,name1,name2,start,end",
                         "complete the row")
                continue
            s0 = _int(row[3], where, "closure_start", pr, "write a day number")
            s1 = _int(row[4], where, "closure_end", pr, "write a day number")
            if s0 is None or s1 is None:
                continue
            kind = row[0]
            if kind not in CLOSURE_TYPES:
                pr.warn(where, "closure_type", f"{kind!r} is not a type Flee 3.1 acts on; "
                        "ignored, as Flee 3.1 does")
                continue
            if kind == "country":
                for nm in (row[1], row[2]):
                    if nm not in countries:
                        pr.warn(where, "country", f"{nm!r} is no location's country; the "
                                "closure closes nothing (as in Flee 3.1)")
            elif kind in ("camp", "idpcamp", "location", "remove_forced_redirection"):
                if row[1] not in index:
                    if not maybe_lost(row[1]):
                        pr.error(where, "name1", f"{row[1]!r} is not in locations.csv (Flee "
                                 "3.1 would act on the first location instead)",
                                 "fix the spelling")
                    continue
            elif kind == "link":
                if len(row[1]) != 1:
                    pr.warn(where, "link", "Flee 3.1 compares names by identity here, so a "
                            "link closure whose name1 is longer than one character closes "
                            "nothing; ignored, as Flee 3.1 does")
                    continue
                if row[1] not in index or row[2] not in index:
                    pr.warn(where, "link", "names a location that does not exist; ignored")
                    continue
                pr.warn(where, "link", "Flee 3.1 closes only the direction name2 -> name1; "
                        "reproduced")
            if kind == "remove_forced_redirection":
                pr.warn(where, "remove_forced_redirection", "the flag has no effect on "
                        "movement in Flee 3.1; ignored")
                continue
            _warn_closure_days(s0, s1, length, where, pr)
            closures.append(Closure(kind, row[1], row[2], s0, s1, where))

    # --- conflicts.csv
    crow = _rows(inp / "conflicts.csv")
    while crow and not any(c.strip() for c in crow[-1]):  # blank lines at the end
        crow.pop()
    conflict_cols: list[int] = []
    col_pos: list[int] = []
    values: list[list[float]] = []
    if not crow:
        pr.error("input_csv/conflicts.csv:1", "header", "the file is empty",
                 "write a header #Day,<location>,... and one row per day")
    elif semicolons(crow[0], "input_csv/conflicts.csv:1", pr):
        pass  # every column would be lost: one message for the file
    else:
        header = [h.strip() for h in crow[0]]
        for j in range(1, len(header)):
            if header[j] and header[j] in header[1:j]:
                pr.error("input_csv/conflicts.csv:1", header[j], "is a second column of that "
                         "name (Flee 3.1 would interleave both columns into one)",
                         "keep one column per location")
            elif header[j]:
                col_pos.append(j)
                ix = index.get(header[j], -1)
                if ix < 0 and not maybe_lost(header[j]):
                    pr.warn("input_csv/conflicts.csv:1", header[j], "is not in locations.csv; "
                            "its column is ignored (as in Flee 3.1)")
                conflict_cols.append(ix)
        for i, row in enumerate(crow[1:]):
            where = f"input_csv/conflicts.csv:{i + 2}"
            if semicolons(row, where, pr):
                continue
            if not any(c.strip() for c in row):
                pr.error(where, "row", "is blank; rows are the days in order, so a blank "
                         "one would shift every later day", "remove the blank line")
                continue
            if len(row) > len(header):
                pr.error(where, "row", f"has {len(row)} fields, the header {len(header)}",
                         "make every row as long as the header")
                continue
            vals = []
            for j in col_pos:
                if j >= len(row):
                    pr.error(where, header[j], "is missing", "complete the row")
                    break
                try:
                    vals.append(float(row[j].strip()))
                except ValueError:
                    pr.error(where, header[j], f"{row[j]!r} is not a number",
                             "write 0 or a conflict intensity")
                    break
            else:
                values.append(vals)
    conflict_values = np.asarray(values, dtype=np.float64).reshape(len(values), len(col_pos))

    # --- source_data
    layout: dict[str, Series] = {}
    layout_line: dict[str, int] = {}
    for i, row in enumerate(_rows(src / "data_layout.csv") if start is not None else []):
        where = f"source_data/data_layout.csv:{i + 1}"
        while len(row) > 1 and not row[-1].strip():
            row = row[:-1]  # an empty field at the end (Excel writes one): no file to read
        if row and not row[0].startswith("#") and semicolons(row, where, pr):
            continue
        if len(row) <= 1:
            continue
        if row[0] == "":
            pr.error(where, "name", "is empty (Flee 3.1 crashes on it)", "write a name")
            continue
        if row[0][0] == "#":
            continue
        if any(not f.strip() for f in row[1:]):
            pr.error(where, "file", "a file name is empty (Flee 3.1 crashes on it)",
                     "remove the empty field between the commas")
            continue
        if row[0] in layout_line:  # (its files are not read: they are never used)
            pr.warn(where, row[0], f"is also on line {layout_line[row[0]]}; only that first "
                    "row's series is used")
            continue
        assert start is not None  # (no rows are read without it)
        d, v = read_series_file(src / row[1], start, settings_hasten, pr,
                                f"source_data/{row[1]}")
        for extra_file in row[2:]:
            d2, v2 = read_series_file(src / extra_file, start, settings_hasten, pr,
                                      f"source_data/{extra_file}")
            if len(d) and len(d2) and d[0] < d2[0]:
                pr.error(where, extra_file, "starts later than the first file (Flee 3.1's "
                         "AddCSVTables crashes)", "list the file that starts first last, "
                         "or give both files the same first date")
                continue
            merged = merge_tables(d, v, d2, v2)
            if merged is not None:
                d, v = merged
        layout_line[row[0]] = i + 1
        if len(d):
            layout[row[0]] = Series(row[0], d, v)
    layout_failed = start is None or _has_errors(pr, "source_data/data_layout.csv")
    if "total" not in layout_line and not layout_failed:
        pr.error("source_data/data_layout.csv:1", "total", "no 'total' row",
                 "add total,refugees.csv")
    is_camp = [k == KIND_CAMP for k in kinds]
    is_town = [k == KIND_TOWN for k in kinds]
    by_kind = {KIND_TOWN: settings.default_movechance,
               KIND_CONFLICT: settings.conflict_movechance,
               KIND_FORWARD: 1.0, KIND_MARKER: 1.0}
    movechance = [(settings.idpcamp_movechance if idp[j] else settings.camp_movechance)
                  if k == KIND_CAMP else by_kind[k] for j, k in enumerate(kinds)]
    # Flee 3.1: a location whose move chance is below 0.005 becomes a camp at load time
    for j, k in enumerate(kinds):
        if k != KIND_CAMP and movechance[j] < 0.005:
            pr.warn(f"input_csv/locations.csv:{seen[names[j]]}", "location_type",
                    f"{names[j]} has move chance {movechance[j]} < 0.005, so Flee 3.1 makes "
                    "it a camp; reproduced")
            is_camp[j] = True
            is_town[j] = False
    camps = [j for j in range(len(names)) if is_camp[j]]
    for j in camps:
        if names[j] not in layout_line and not layout_failed:
            pr.error("source_data/data_layout.csv:1", names[j], "the camp has no series row "
                     "(Flee 3.1 exits)", f"add {names[j]},<file>.csv")

    rpath = inp / "registration_corrections.csv"
    if rpath.is_file() and start is not None:
        for i, row in enumerate(_rows(rpath)):
            where = f"input_csv/registration_corrections.csv:{i + 1}"
            if semicolons(row, where, pr):
                continue
            if len(row) <= 1:
                continue
            if row[0] not in layout:
                if row[0] not in layout_line and not layout_failed:
                    pr.error(where, "name", f"{row[0]!r} has no series in data_layout.csv "
                             "(Flee 3.1 exits)", "fix the name")
                continue  # (a series with errors is named there)
            try:
                day = (parse_date(row[1]) - start).days
            except ValueError:
                pr.error(where, "date", f"{row[1]!r} is not a date YYYY-MM-DD",
                         "write YYYY-MM-DD")
                continue
            s = layout[row[0]]
            hits = [k for k in range(len(s.days)) if int(s.days[k]) == day and k > 0]
            if not hits:
                pr.error(where, "date", f"{row[1]} is not a date of {row[0]}'s series after "
                         "its first row (Flee 3.1 crashes: UnboundLocalError)",
                         "use a date that appears in the series")
                continue
            if any(s.values[k - 1] == 0 for k in hits):
                pr.error(where, "date", f"the value before {row[1]} is 0, so the scaling "
                         "divides by zero", "use another date")
                continue
            correct_registrations(s, day)
    demo = sorted(p.name for p in inp.glob("demographics_*.csv"))
    if demo:
        pr.warn("input_csv/" + demo[0] + ":1", "demographics", "agent attributes ("
                + ", ".join(demo) + ") change no move rule under these settings; not drawn")
    pr.raise_if_any()
    assert start is not None  # (a missing StartDate is an error above)

    return FleeCase(
        folder=folder, name=folder.resolve().name, settings=settings, warnings=pr.warnings,
        start=start, length=length, loc_names=names, country=country,
        kind=np.asarray(kinds, dtype=np.int8), idpcamp=np.asarray(idp, dtype=bool),
        conflict=np.asarray(conflict, dtype=np.float64),
        pop=np.asarray(pops, dtype=np.int64), capacity=np.asarray(caps, dtype=np.int64),
        foreign=np.asarray([c != home for c in country], dtype=bool),
        graph=graph, edge_speed=edge_speed, edge_walk=edge_walk, closures=closures,
        conflict_cols=conflict_cols, conflict_values=conflict_values,
        total=layout.get("total", Series("total", np.zeros(1), np.zeros(1))),
        camp_series={names[j]: layout[names[j]] for j in camps}, camps=camps,
        is_camp=np.asarray(is_camp, dtype=bool), is_town=np.asarray(is_town, dtype=bool),
        is_marker=np.asarray([k == KIND_MARKER for k in kinds], dtype=bool),
        movechance=np.asarray(movechance, dtype=np.float64), attributes=attrs,
    )


__all__ = ["FleeCase", "FleeError", "is_flee_folder", "read_flee_folder"]
