"""A GSAS-II pattern (not xrdq's model) with an intensity loss of the specimen applied to it: the cover-film and
overspill tests start from the same case and differ only in the factor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xrdq.validation import _case_phases

REPO = Path(__file__).resolve().parents[2]
#: 40 % amorphous; Li2ZrCl6 reflects from 2θ ≈ 15°, LiF from 38.7°
CASE = REPO / "reference_patterns" / "validation" / "gsas2-expected" / "lazco_a40_rep"


def transmitted_case(directory: Path, factor, name: str, seed: int = 5):
    """(file, quantify keywords, true amorphous fraction): the case's expected counts × ``factor(two_theta)``,
    then Poisson noise, written to ``directory/name.xye``."""
    truth = json.loads(CASE.with_suffix(".truth.json").read_text())
    d = np.loadtxt(CASE.with_suffix(".xye"), comments="#")
    obs = np.random.default_rng(seed).poisson(d[:, 1] * factor(d[:, 0])).astype(float)
    path = Path(directory) / f"{name}.xye"
    np.savetxt(path, np.column_stack([d[:, 0], obs, np.sqrt(np.maximum(obs, 1.0))]))
    std = truth["standard"]
    kw = dict(phases=_case_phases(truth, REPO), standard=(std["phase"], std["weighed_fraction"]),
              instrument="miniflex600", model_uncertainty="fast")
    return path, kw, truth["sample"]["amorphous"]
