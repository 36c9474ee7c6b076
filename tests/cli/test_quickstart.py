"""The quickstart's first commands run as written: every pattern file they read exists once the
commands before them have run (docs/quickstart.md used a sample.ras that did not exist)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from xrdq.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def _section_commands(title: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("xrdq "):
            commands.append(shlex.split(line)[1:])
    return commands


def test_one_pattern_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = _section_commands("One pattern on the command line")
    assert commands and commands[0][0] == "demo"
    for argv in commands:
        if argv[0] == "quantify":
            argv = argv + ["--two-theta-range", "15", "60"]  # a shorter fit, same files
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0, (argv, capsys.readouterr().err)
    assert (tmp_path / "sample.json").is_file() and (tmp_path / "sample.png").is_file()
    notebook = DOC.read_text(encoding="utf-8").split("## One pattern in a notebook", 1)[1]
    for name in re.findall(r'xrdq\.load\("([^"]+)"\)', notebook):
        assert (tmp_path / name).is_file(), name
