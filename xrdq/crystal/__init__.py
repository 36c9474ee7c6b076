"""Crystal structures: CIF → :class:`Phase` → :class:`Reflections` (hkl, d, multiplicity, |F|²).

>>> from xrdq.crystal import load_phase
>>> lif = load_phase("LiF")
>>> refl = lif.reflections(two_theta_max=90.0, wavelength=1.5406)
"""

from __future__ import annotations

from .cell import d_spacing
from .cif import read_cif
from .library import list_phases, load_phase
from .phase import Phase, Site
from .reflections import Reflections

__all__ = ["Phase", "Site", "Reflections", "load_phase", "list_phases", "read_cif", "d_spacing"]
