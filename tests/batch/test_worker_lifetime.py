"""Pool workers (and the resource tracker) exit when ``xrdq batch`` is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _stat(pid: int):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])  # state, ppid


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st and st[1] == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has exited


def test_workers_exit_when_batch_is_killed(good_files, settings, tmp_path):
    many = []
    for k in range(4):  # enough files that the workers are busy when the batch dies
        for f in good_files:
            many.append(f.with_name(f"{f.stem}_{k}{f.suffix}"))
            many[-1].write_bytes(f.read_bytes())
    argv = [sys.executable, "-c", "import sys; from xrdq.cli import main; main(sys.argv[1:])", "batch", *map(str, many), "--standard", "LiF=0.3", "-j", "2",
            "--quiet", "--no-plots", "--out", str(tmp_path / "out")]
    for p in settings["phases"]:
        argv += ["--phase", p]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            if len(kids) >= 3:  # resource tracker + 2 workers
                break
            time.sleep(0.2)
        assert proc.poll() is None and len(kids) >= 3, f"batch ended or started no workers: {kids}"
        time.sleep(3.0)  # workers past their start-up, fitting
        kids = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        survivors = [k for k in kids if _alive(k)]
        assert not survivors, f"still running after the batch was killed: {survivors}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for k in kids:  # only the processes this test started
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
