"""A film over the specimen — Kapton tape or foil on an air-sensitive sample: what it is made of, its µ·t, and
how much of each reflection crosses it (docs/method.md §1, "Cover film")."""

from __future__ import annotations

import numpy as np

#: Flat films laid over air-sensitive specimens: atoms per formula unit and density (g/cm³). Kapton is the
#: polyimide film (PMDA–ODA) of Kapton tape without its adhesive; for a tape give µ·t (``mu_t=``), measured or
#: from the maker's adhesive thickness and composition. A dome is not a flat film (its path does not go as
#: 1/sinθ) and is not described by this correction.
FILMS = {
    "kapton": ({"C": 22, "H": 10, "N": 2, "O": 5}, 1.42),
    "mylar": ({"C": 10, "H": 8, "O": 4}, 1.39),
    "polyethylene": ({"C": 2, "H": 4}, 0.94),
    "polypropylene": ({"C": 3, "H": 6}, 0.90),
    "beryllium": ({"Be": 1}, 1.85),
}


def film_mu_t(material: str, thickness_um: float, wavelength: float) -> float:
    """µ·t of ``thickness_um`` µm of a film of :data:`FILMS` at ``wavelength`` (Å): its µ/ρ from the elements'
    (xrdq's shipped table), times its density and thickness."""
    import gemmi

    from ..crystal import scattering

    atoms, density = FILMS[material]
    mu_rho = scattering.mass_attenuation({el: n * gemmi.Element(el).weight for el, n in atoms.items()}, wavelength)
    return mu_rho * density * thickness_um * 1e-4


def film_transmission(two_theta, mu_t: float):
    """Fraction of a reflection's intensity that crosses a film of µ·t = ``mu_t`` lying on the specimen (Kapton
    tape or foil over an air-sensitive sample): exp(−2 µt / sinθ), the incident and the diffracted beam each
    crossing it at θ to its surface. Low angles lose most — with µt = 0.0215 (25 µm of Kapton at Cu Kα)
    15 % at 2θ = 30° and 6 % at 90° — so an uncorrected film biases phases whose reflections lie at different
    angles against each other (docs/method.md §1)."""
    if not mu_t:
        return 1.0
    return np.exp(-2.0 * mu_t / np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2.0))
