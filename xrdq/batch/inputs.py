"""Which files a batch fits, and with which settings: inputs (files, folders, globs) and the manifest CSV."""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._digest import file_sha256, sha256_of
from ..errors import XrdqError
from ..settings import COLUMN_ALIASES, SETTINGS, by_name, parse_cell, settings_from_values

#: Manifest columns that are settings (the options of ``xrdq quantify``/``batch``, xrdq.settings,
#: plus the file, its label and the older spellings); every other column is metadata carried into the outputs.
SETTING_COLUMNS = ("file", "sample", "standard_fraction") + tuple(s.name for s in SETTINGS) + tuple(COLUMN_ALIASES)


class XrdqBatchError(XrdqError, ValueError):
    """Batch inputs or a manifest are unusable (nothing matched, unknown column, bad number)."""


@dataclass
class Job:
    """One pattern file and the settings it is quantified with."""

    path: Path
    stem: str  # unique, filesystem-safe name of this file's outputs (plots/<stem>.png, json/<stem>.json)
    sample: str  # label shown in the outputs (manifest ``sample`` column, else the file stem)
    settings: dict  # keyword arguments of xrdq.quantify (JSON-able)
    metadata: dict = field(default_factory=dict)  # extra manifest columns, as text
    sha256: str = ""  # of the input file; "" when it cannot be read

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.settings)


def _natural_key(path: Path):
    """Sort scan_2 before scan_10, deterministically."""
    text = str(path)
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]


def __getattr__(name):
    if name == "SUPPORTED_EXTENSIONS":  # the readers' own (xrdq.io.EXTENSIONS), imported when asked
        from ..io import EXTENSIONS

        return EXTENSIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_pattern_file(path: Path) -> bool:
    """A file a folder is expanded to: an extension some reader claims (case-insensitive), not hidden."""
    from ..io import EXTENSIONS

    return path.is_file() and path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def expand_inputs(inputs, exclude=None) -> list[Path]:
    """Files, folders and globs → a list of pattern files (argument order, each argument sorted naturally).

    A folder gives its supported pattern files (not recursive; use a glob such as ``data/**/*.ras`` to
    recurse). A named file is kept whatever its extension; a path that does not exist is kept too (it is
    reported as a failed file). A glob that matches nothing is an error. Files under ``exclude`` (the
    output folder) are skipped, and each file appears once.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    exclude = Path(exclude) if exclude is not None else None
    out, seen = [], set()

    def add(p: Path):
        key = str(p.resolve()) if p.exists() else str(p.absolute())
        if key not in seen and not _inside(p, exclude):
            seen.add(key)
            out.append(p)

    for item in inputs:
        item = Path(item).expanduser() if not isinstance(item, Path) else item
        text = str(item)
        if item.is_dir():
            for p in sorted((q for q in item.iterdir() if _is_pattern_file(q)), key=_natural_key):
                add(p)
        elif item.exists() or not glob.has_magic(text):
            add(item)
        else:
            matches = [Path(m) for m in glob.glob(text, recursive=True)]
            if not matches:
                raise XrdqBatchError(f"{text}: no file matches this pattern")
            for m in sorted(matches, key=_natural_key):
                if m.is_dir():
                    for p in sorted((q for q in m.iterdir() if _is_pattern_file(q)), key=_natural_key):
                        add(p)
                elif m.is_file():
                    add(m)
    return out


def _safe_stem(name: str) -> str:
    s = re.sub(r"[^\w.+\-=@]", "_", name).strip(".")
    return s or "pattern"


def unique_stems(paths) -> list[str]:
    """Output names per input: the file stem, made filesystem-safe; clashes get a short hash of the path."""
    stems = [_safe_stem(Path(p).stem) for p in paths]
    counts = {}
    for s in stems:
        counts[s.lower()] = counts.get(s.lower(), 0) + 1
    out = []
    for p, s in zip(paths, stems):
        if counts[s.lower()] > 1:
            h = hashlib.sha1(str(Path(p).absolute()).encode()).hexdigest()[:8]
            s = f"{s}-{h}"
        out.append(s)
    return out


def _file_fingerprint(value: str):
    """For settings that may name a file (CIF, instrument), its content hash too: editing it refits."""
    p = Path(str(value).partition("=")[2] or str(value)) if "=" in str(value) and not Path(str(value)).exists() else Path(str(value))
    if p.suffix and p.is_file():
        return [str(value), file_sha256(p, missing="")]
    return str(value)


def settings_hash(settings: dict) -> str:
    """A stable hash of everything that changes a file's numbers (settings, xrdq version, referenced files)."""
    from .._version import __version__

    s = dict(settings)
    s["phases"] = [_file_fingerprint(p) for p in s.get("phases", ())]
    if isinstance(s.get("instrument"), str):
        s["instrument"] = _file_fingerprint(s["instrument"])
    if isinstance(s.get("recipe"), str):
        s["recipe"] = _file_fingerprint(s["recipe"])
    text = json.dumps({"xrdq": __version__, "settings": s}, sort_keys=True, default=str)
    return sha256_of(text.encode())[:16]


# ---- manifest ---------------------------------------------------------------------------------
def _float(value: str, column: str, row: int, manifest) -> float:
    try:
        return float(value)
    except ValueError:
        raise XrdqBatchError(f"{manifest}, row {row}: {column} {value!r} is not a number") from None


def _row_settings(row: dict, i: int, path) -> dict:
    """The quantify keyword arguments one manifest row sets (its non-empty setting cells)."""
    table = by_name()
    values = {}
    for column, text in row.items():
        name = COLUMN_ALIASES.get(column, column)
        if not text or name not in table:
            continue
        if name == "standard" and "=" not in text and text.lower() not in ("none", "no", "-"):
            frac = row.get("standard_fraction", "")
            if not frac:
                # the name alone: W_s from the command line's standard of that name (build_jobs), as an empty cell would
                values["_standard_name"] = (text, i)
                continue
            text = f"{text}={frac}"
        try:
            values[name] = parse_cell(table[name], text)
        except XrdqError as exc:
            raise XrdqBatchError(f"{path}, row {i}, column {column}: {exc}") from None
    named = values.pop("_standard_name", None)
    settings = settings_from_values(values)
    if named is not None:
        settings["standard_name"] = named
    if settings.get("standard") is not None:
        settings["standard"] = list(settings["standard"])
    elif "standard" not in settings and row.get("standard_fraction"):
        settings["standard_fraction"] = _float(row["standard_fraction"], "standard_fraction", i, path)
    return settings


def read_manifest(path) -> list[dict]:
    """Rows of a manifest CSV as dicts: ``file`` (resolved against the manifest's folder), ``settings``
    (the quantify keyword arguments the row overrides), ``sample`` (or None) and ``metadata`` (other columns).

    Columns: ``file`` (required); ``sample``; every option of ``xrdq batch``'s refinement settings under
    its name with underscores (``standard``, ``no_standard``, ``standard_purity`` or ``purity``,
    ``standard_esd``, ``purity_esd``, ``phase`` or ``phases``, ``instrument``, ``engine``,
    ``two_theta_range`` as ``MIN MAX``, ``recipe``, ``brindley``, ``berar_lelann``, ``no_humps``,
    ``preferred_orientation``, ``strain``): repeatable ones separated by ``;``, flags as yes/no.
    ``standard`` may be ``NAME`` with a ``standard_fraction`` column, ``NAME`` alone when the command gives that
    standard with its W_s, or ``none``. Empty cells keep the command's defaults.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise XrdqBatchError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise XrdqBatchError(f"{path}: the manifest is empty (expected a header with a 'file' column)")
    fields = [f.strip() for f in reader.fieldnames]
    if "file" not in fields:
        raise XrdqBatchError(f"{path}: the manifest has no 'file' column (columns: {', '.join(fields)})")
    rows, samples = [], {}
    for i, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        if not row.get("file"):
            raise XrdqBatchError(f"{path}, row {i}: empty 'file' cell")
        f = Path(row["file"]).expanduser()
        if not f.is_absolute():
            f = path.parent / f
        settings = _row_settings(row, i, path)
        sample = row.get("sample") or None
        if sample is not None:
            if sample in samples:
                raise XrdqBatchError(f"{path}, row {i}: sample label {sample!r} already used in row {samples[sample]}")
            samples[sample] = i
        metadata = {k: v for k, v in row.items() if k not in SETTING_COLUMNS and k}
        rows.append({"file": f, "settings": settings, "sample": sample, "metadata": metadata, "row": i})
    return rows


def build_jobs(inputs, defaults: dict, manifest=None, exclude=None) -> list[Job]:
    """Jobs for ``inputs`` (or the manifest's files when no inputs are given), manifest rows applied."""
    rows = read_manifest(manifest) if manifest is not None else []
    if inputs:
        paths = expand_inputs(inputs, exclude=exclude)
    elif rows:
        paths = [r["file"] for r in rows]
    else:
        raise XrdqBatchError("no inputs: give pattern files, folders or globs, or a manifest")
    if not paths:
        raise XrdqBatchError(f"no pattern files found in {', '.join(map(str, inputs))} "
                             f"(looked for {' '.join(__getattr__('SUPPORTED_EXTENSIONS'))})")
    by_path = {}
    by_name: dict[str, list] = {}
    for r in rows:
        key = str(r["file"].resolve()) if r["file"].exists() else str(r["file"].absolute())
        by_path[key] = r
        by_name.setdefault(r["file"].name, []).append(r)
    stems = unique_stems(paths)
    jobs = []
    for p, stem in zip(paths, stems):
        key = str(p.resolve()) if p.exists() else str(p.absolute())
        row = by_path.get(key)
        if row is None and len(by_name.get(p.name, ())) == 1:
            row = by_name[p.name][0]
        settings = dict(defaults)
        metadata, sample = {}, None
        if row is not None:
            over = dict(row["settings"])
            if "standard_name" in over:
                name, i = over.pop("standard_name")
                std = settings.get("standard")
                if not std or settings.get("standard_source") == "default" or std[0].lower() != name.lower():
                    given = (f"the command line's standard is {std[0]}={std[1]:g}" if std and
                             settings.get("standard_source") != "default" else "the command line gives none")
                    raise XrdqBatchError(f"{manifest}, row {i}: standard {name!r} needs NAME=W_S or a standard_fraction "
                                         f"column ({given})")
            if "standard_fraction" in over:
                std = settings.get("standard")
                if not std:
                    raise XrdqBatchError(f"{manifest}, row {row['row']}: standard_fraction given but no standard name")
                settings["standard"] = [std[0], over.pop("standard_fraction")]
            settings.update(over)
            metadata, sample = row["metadata"], row["sample"]
        jobs.append(Job(path=p, stem=stem, sample=sample or stem, settings=settings, metadata=metadata))
    seen = {}
    for j in jobs:
        if j.sample in seen:
            j.sample = j.stem if j.stem not in seen else f"{j.stem}#{len(seen)}"
        seen[j.sample] = j
    return jobs
