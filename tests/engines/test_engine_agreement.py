"""Native and GSAS-II engines agree on data neither made (docs/engines.md has the full table)."""

import importlib.util
from pathlib import Path

import pytest

from xrdq.engines.gsas2 import gsas2_available
from xrdq.validation import INDEPENDENT, independent_cases

pytestmark = [pytest.mark.gsas2, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_engines.py"


def _compare_case():
    spec = importlib.util.spec_from_file_location("compare_engines", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compare_case


# representative: textured LiAlCl4 (the adaptive recipe adds March–Dollase) and the LAZCO replicate case
# Once −3.3 and −2.1 wt%: quantify dropped the mirrored GSAS-II recipe (a GsasRecipe object) for the engine's default
# steps, and GSAS-II refined sizes before positions (sizes past their limit). Now +0.01 and −0.39.
# lahc_a25: +1.74 while LiF's size stayed frozen at GSAS-II's 10 µm limit, where it ran before the profile step
# (native 1.3 µm); restarted after the profile step, −0.02.
# xu_lif100_licl_a40: the LiF standard itself textured (0.80 about <100>): −1.63 while the mirror left a cubic texture
# out of GSAS-II's recipe, −0.37 with it (GSAS-II averages the factor over the equivalents, as the native model does).
@pytest.mark.parametrize("case", ["gsas2/lac_a15_po", "gsas2/lazco_a40_rep_r01", "gsas2/lahc_a25",
                                  "xrayutilities/xu_lif100_licl_a40"])
def test_native_and_gsas2_amorphous_agree_within_half_a_wt_percent(case):
    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (see docs/gsas2.md)")
    path = INDEPENDENT / f"{case}.truth.json"
    if not path.is_file() or not independent_cases(INDEPENDENT, replicates=True):
        pytest.skip(f"independent validation set not found at {INDEPENDENT}")
    name, truth, native, gsas2 = _compare_case()(path)
    assert abs(native[0] - gsas2[0]) <= 0.005, (name, truth, native, gsas2)
