"""Input expansion, manifest parsing, output names and the settings hash (no fitting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrdq.batch.inputs import (XrdqBatchError, build_jobs, expand_inputs, read_manifest, settings_hash,
                               unique_stems)
from xrdq.errors import XrdqError


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_expands_to_supported_files_in_natural_order(tmp_path):
    for name in ("s10.xy", "s2.xy", "s1.RAS", "notes.md", ".hidden.xy", "image.png"):
        _touch(tmp_path / name)
    (tmp_path / "sub").mkdir()
    _touch(tmp_path / "sub" / "deep.xy")
    got = [p.name for p in expand_inputs([tmp_path])]
    assert got == ["s1.RAS", "s2.xy", "s10.xy"]


def test_folder_expands_to_every_extension_a_reader_claims(tmp_path):
    """The batch's list is the readers' own: GSAS .gsa, .xyd columns, netCDF and CPD .prn are fitted too."""
    from xrdq.batch import SUPPORTED_EXTENSIONS
    from xrdq.io import READERS

    names = ("a.gsa", "b.xyd", "c.nc", "d.PRN", "e.gss", "f.bak")
    for name in names:
        _touch(tmp_path / name)
    assert [p.name for p in expand_inputs([tmp_path])] == list(names[:5])
    assert set(SUPPORTED_EXTENSIONS) >= {e for r in READERS for e in r.EXTENSIONS} | {".prn"}


def test_globs_files_and_dedup_keep_argument_order(tmp_path):
    a, b, c = (_touch(tmp_path / n) for n in ("a.xye", "b.xye", "c.dat"))
    got = expand_inputs([c, str(tmp_path / "*.xye"), a])
    assert got == [c, a, b]
    got = expand_inputs([str(tmp_path / "**" / "*.xye")])
    assert [p.name for p in got] == ["a.xye", "b.xye"]


def test_glob_matching_nothing_is_an_error_but_a_missing_file_is_kept(tmp_path):
    with pytest.raises(XrdqError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.ras")])
    missing = tmp_path / "missing.ras"
    assert expand_inputs([missing]) == [missing]


def test_output_folder_is_excluded(tmp_path):
    _touch(tmp_path / "a.xy")
    _touch(tmp_path / "out" / "results.csv")
    assert [p.name for p in expand_inputs([tmp_path, str(tmp_path / "out" / "*")], exclude=tmp_path / "out")] == ["a.xy"]


def test_unique_stems_are_safe_and_distinct(tmp_path):
    paths = [tmp_path / "x" / "s.ras", tmp_path / "y" / "s.ras", tmp_path / "s.xye", tmp_path / "a b<&>.xy"]
    stems = unique_stems(paths)
    assert len(set(stems)) == 4
    assert all(s.startswith("s-") for s in stems[:3])
    assert stems[3] == "a_b___"


def test_manifest_settings_and_metadata(tmp_path):
    _touch(tmp_path / "p1.xy")
    _touch(tmp_path / "p2.xy")
    m = _touch(tmp_path / "manifest.csv",
               "file,standard,standard_fraction,purity,phases,sample,temperature_C,operator\n"
               "p1.xy,LiF=0.2,,0.98,corundum;zincite,first,25,ann\n"
               "p2.xy,,0.25,,,second,300,\n")
    rows = read_manifest(m)
    assert rows[0]["file"] == tmp_path / "p1.xy"
    assert rows[0]["settings"] == {"standard": ["LiF", 0.2], "purity": 0.98, "phases": ["corundum", "zincite"]}
    assert rows[0]["metadata"] == {"temperature_C": "25", "operator": "ann"}
    jobs = build_jobs(None, {"phases": ["x"], "standard": ["LiF", 0.5], "purity": 1.0}, manifest=m)
    assert [j.sample for j in jobs] == ["first", "second"]
    assert jobs[1].settings["standard"] == ["LiF", 0.25] and jobs[1].settings["phases"] == ["x"]
    assert jobs[0].settings["purity"] == 0.98 and jobs[1].settings["purity"] == 1.0


@pytest.mark.parametrize("body, match", [
    ("name,standard\nx.xy,LiF=0.2\n", "no 'file' column"),
    ("file,standard\nx.xy,LiF=abc\n", "row 2, column standard: .*'abc' is not a number"),
    ("file,sample\na.xy,s\nb.xy,s\n", "already used in row 2"),
    ("", "empty"),
])
def test_bad_manifests_say_where(tmp_path, body, match):
    m = _touch(tmp_path / "m.csv", body)
    with pytest.raises(XrdqError, match=match):
        read_manifest(m)


def test_a_bare_standard_name_takes_the_command_lines_fraction(tmp_path):
    """docs/batch.md's manifest: a row naming the command line's standard without a fraction keeps its W_s, as an
    empty cell would; a name the command line does not give, or xrdq's assumed default, is an error naming the row."""
    _touch(tmp_path / "p1.xy")
    _touch(tmp_path / "p2.xy")
    m = _touch(tmp_path / "m.csv", "file,standard\np1.xy,LiF=0.25\np2.xy,lif\n")
    jobs = build_jobs(None, {"phases": ["x"], "standard": ["LiF", 0.2], "purity": 1.0}, manifest=m)
    assert [j.settings["standard"] for j in jobs] == [["LiF", 0.25], ["LiF", 0.2]]
    for defaults, said in (({"standard": ["Si", 0.1]}, "command line's standard is Si=0.1"),
                           ({"standard": None}, "command line gives none"),
                           ({"standard": ["LiF", 0.5], "standard_source": "default"}, "command line gives none")):
        with pytest.raises(XrdqError, match=f"m.csv, row 3: standard 'lif' needs NAME=W_S .*{said}"):
            build_jobs(None, {"phases": ["x"], "purity": 1.0, **defaults}, manifest=m)


def test_settings_hash_follows_settings_and_cif_contents(tmp_path):
    cif = _touch(tmp_path / "x.cif", "data_x\n")
    base = {"phases": [f"x={cif}"], "standard": ["LiF", 0.5], "purity": 1.0}
    h = settings_hash(base)
    assert h == settings_hash(dict(base))
    assert h != settings_hash(dict(base, purity=0.99))
    cif.write_text("data_x\n# edited\n")
    assert h != settings_hash(base)


def test_no_inputs_is_an_error():
    with pytest.raises(XrdqBatchError):
        build_jobs([], {"phases": []})
