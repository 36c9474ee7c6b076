"""Data shipped with xrdq: phase CIFs, instrument descriptions and the demo pattern."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
PHASES = ROOT / "phases"
INSTRUMENTS = ROOT / "instruments"
DEMO = ROOT / "demo"
