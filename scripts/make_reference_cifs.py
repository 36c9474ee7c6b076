"""Write the reference-phase CIFs in reference_patterns/phases from the published values below.

Every number that ends up in a CIF is in the PHASES table of this file, next to its source, so it
can be reviewed in one place. Symmetry operators are written out by gemmi from the space-group
symbol, so each CIF is unambiguous about its setting and origin choice.

``quality`` says how far a structure can be trusted:

* ``published`` – cell, coordinates and occupancies as published (B may be assumed, see notes);
* ``noisy`` – cell and occupancies as published, free coordinates are the OBELiX starting values,
  which carry deliberate Gaussian noise (σ ≈ 0.01 in fractional units); refine them;
* ``approximate`` – an idealised or constructed model (see notes): good for phase identification
  and a starting point, not for quantitative work without refining coordinates.

Bibliographic fields we could not verify are written as '?' rather than guessed; "et al." stands
for co-authors we did not re-check. Page "?" etc. are valid CIF "unknown" values.

    python scripts/make_reference_cifs.py          # rewrites reference_patterns/phases/*.cif
"""

from __future__ import annotations

import sys
from pathlib import Path

import gemmi

OUT = Path(__file__).resolve().parents[1] / "reference_patterns" / "phases"

# site: (label, element, x, y, z, occupancy, B_iso Å²)
PHASES = [
    dict(
        name="LiF", formula="F Li", sg="F m -3 m", z=4,
        cell=(4.0270, 4.0270, 4.0270, 90, 90, 90),
        sites=[("Li1", "Li", 0, 0, 0, 1, 1.0), ("F1", "F", 0.5, 0.5, 0.5, 1, 0.8)],
        authors=["Swanson, H. E.", "Tatge, E."], journal="National Bureau of Standards Circular 539",
        volume="1", year=1953, page="?", doi=None, cod=None,
        quality="published", density=2.635,
        notes="Rock salt; a at 26 C. B values are typical room-temperature values, assumed (not in source).",
    ),
    dict(
        name="LiCl", formula="Cl Li", sg="F m -3 m", z=4,
        cell=(5.1295, 5.1295, 5.1295, 90, 90, 90),
        sites=[("Li1", "Li", 0, 0, 0, 1, 1.6), ("Cl1", "Cl", 0.5, 0.5, 0.5, 1, 1.2)],
        authors=["Swanson, H. E.", "Tatge, E."], journal="National Bureau of Standards Circular 539",
        volume="1", year=1953, page="?", doi=None, cod=None,
        quality="published", density=2.068,
        notes="Rock salt. B values assumed (not in source). LiCl is hygroscopic: check for LiCl.H2O.",
    ),
    dict(
        name="Li2O", formula="Li2 O", sg="F m -3 m", z=4,
        cell=(4.619, 4.619, 4.619, 90, 90, 90),
        sites=[("Li1", "Li", 0.25, 0.25, 0.25, 1, 1.0), ("O1", "O", 0, 0, 0, 1, 0.6)],
        authors=["Wyckoff, R. W. G."], journal="Crystal Structures, 2nd ed., Interscience, New York",
        volume="1", year=1963, page="?", doi=None, cod="9009059",
        quality="published", density=2.013,
        notes="Antifluorite; via COD 9009059. B values assumed (not in source).",
    ),
    dict(
        name="AlCl3", formula="Al Cl3", sg="C 1 2/m 1", z=4,
        cell=(5.92, 10.24, 6.17, 90, 108.0, 90),
        sites=[("Al1", "Al", 0, 1 / 6, 0, 1, 1.5),
               ("Cl1", "Cl", 0.25, 0, 0.25, 1, 2.0),
               ("Cl2", "Cl", 0.25, 1 / 6, 0.75, 1, 2.0)],
        authors=["Ketelaar, J. A. A.", "MacGillavry, C. H.", "Renes, P. A."],
        journal="Recueil des Travaux Chimiques des Pays-Bas", volume="66", year=1947, page="501",
        doi=None, cod=None,
        quality="approximate", density=2.48,
        notes="Cell and space group from Ketelaar et al. (1947). Coordinates are the IDEALISED AlCl3-type "
              "values (ccp Cl, Al in 2/3 of the octahedral holes of every second layer), not refined ones "
              "(Troyanov 1992, ICSD 39566, was not available to us). B assumed. Refine coordinates.",
    ),
    dict(
        name="LiAlCl4", formula="Al Cl4 Li", sg="P 1 21/c 1", z=4,
        cell=(7.007, 6.504, 12.995, 90, 93.32, 90),
        sites=[("Al1", "Al", 0.70588, 0.32198, 0.89924, 1, 1.2),
               ("Cl1", "Cl", 0.69400, 0.18329, 0.04695, 1, 2.0),
               ("Cl2", "Cl", 0.80902, 0.62835, 0.92849, 1, 2.0),
               ("Cl3", "Cl", 0.92580, 0.18160, 0.81372, 1, 2.0),
               ("Cl4", "Cl", 0.43947, 0.31364, 0.81280, 1, 2.0),
               ("Li1", "Li", 0.15688, 0.98308, 0.36658, 1, 2.5)],
        authors=["Mairesse, G.", "Barbier, P.", "Vignacourt, J. P."],
        journal="Crystal Structure Communications", volume="6", year=1977, page="15", doi=None, cod="1004036",
        quality="published", density=1.974,
        notes="Single-crystal structure via COD 1004036 (R = 0.029). B values assumed (anisotropic U not "
              "carried over). Density is the X-ray density of the published cell.",
    ),
    dict(
        name="Li3InCl6", formula="Cl6 In Li3", sg="C 1 2/m 1", z=2,
        cell=(6.432, 11.093, 6.398, 90, 109.8, 90),
        sites=[("Li1", "Li", 0, 0.1681, 0.5, 1, 3.0),
               ("Li2", "Li", 0, 0.5, 0.5, 1, 3.0),
               ("In1", "In", 0, 0, 0, 0.875, 1.5),
               ("In2", "In", 0, 0.3325, 0, 0.07, 1.5),
               ("Cl1", "Cl", 0.2356, 0.1600, 0.2313, 1, 2.0),
               ("Cl2", "Cl", 0.2447, 0, 0.7612, 1, 2.0)],
        authors=["Li, X.", "et al.", "Sun, X."],
        journal="Angewandte Chemie International Edition", volume="58", year=2019, page="16427",
        doi="10.1002/anie.201909805", cod=None,
        quality="noisy", density=2.69,
        notes="Cell, site multiplicities and occupancies as published (ICSD 89617 via the OBELiX data set, "
              "entry de5). The FREE coordinates (Li1 y, In2 y, Cl x/y/z) are OBELiX values that carry "
              "deliberate Gaussian noise (sigma 0.01 fractional): noisy starting values, refine them. "
              "Special-position coordinates are exact. B assumed. Density: X-ray density of the cell.",
    ),
    dict(
        name="Li3OCl", formula="Cl Li3 O", sg="P m -3 m", z=1,
        cell=(3.9083, 3.9083, 3.9083, 90, 90, 90),
        sites=[("Li1", "Li", 0, 0.5, 0.5, 1, 2.0), ("Cl1", "Cl", 0, 0, 0, 1, 1.5), ("O1", "O", 0.5, 0.5, 0.5, 1, 1.0)],
        authors=["Zhao, Y.", "Daemen, L. L."], journal="Journal of the American Chemical Society", volume="134",
        year=2012, page="15042", doi="10.1021/ja305709z", cod=None,
        quality="published", density=2.01,
        notes="Antiperovskite (Li on 3d, Cl on 1a, O on 1b): every coordinate is fixed by symmetry, so the OBELiX "
              "entry 4p7 (noise on free coordinates only) gives the structure exactly; cell as given there. A "
              "by-product of oxychloride electrolytes and hygroscopic (Li2(OH)Cl forms in air). B assumed. "
              "Density: X-ray density of the cell.",
    ),
    dict(
        name="Li3YCl6", formula="Cl6 Li3 Y", sg="P -3 m 1", z=3,
        cell=(11.2093, 11.2093, 6.0469, 90, 90, 120),
        sites=[("Li1", "Li", 0, 0.3256, 0.5, 0.87538, 3.0),
               ("Li2", "Li", 0, 0.3261, 0, 0.62462, 3.0),
               ("Y1", "Y", 1 / 3, 2 / 3, 0.4870, 0.56592, 1.2),
               ("Y2", "Y", 1 / 3, 2 / 3, 0.9812, 0.43408, 1.2),
               ("Y3", "Y", 0, 0, 0, 1, 1.2),
               ("Cl1", "Cl", 0.1084, 0.2167, 0.7765, 1, 2.0),
               ("Cl2", "Cl", 0.1255, 0.5627, 0.7506, 1, 2.0),
               ("Cl3", "Cl", 0.2102, 0.4205, 0.2784, 1, 2.0)],
        authors=["Schlem, R.", "et al.", "Zeier, W. G."],
        journal="Chemistry of Materials", volume="?", year=2021, page="?",
        doi="10.1021/acs.chemmater.0c04352", cod=None,
        quality="noisy", density=2.44,
        notes="Close-match structure of the OBELiX data set (entry ei3) for this publication. Cell, "
              "multiplicities and occupancies as given there; the FREE coordinates carry deliberate OBELiX "
              "Gaussian noise (sigma 0.01 fractional): noisy starting values, refine them. The two Cl "
              "sites on 6i were made consistent with x,2x,z. B assumed. Density: X-ray density of the cell.",
    ),
    dict(
        name="Li2ZrCl6", formula="Cl6 Li2 Zr", sg="P -3 m 1", z=3,
        cell=(10.9986, 10.9986, 5.9344, 90, 90, 120),
        sites=[("Li1", "Li", 0, 0.3256, 0.5, 0.58359, 3.0),
               ("Li2", "Li", 0, 0.3261, 0, 0.41641, 3.0),
               ("Zr1", "Zr", 1 / 3, 2 / 3, 0.4870, 0.56592, 1.2),
               ("Zr2", "Zr", 1 / 3, 2 / 3, 0.9812, 0.43408, 1.2),
               ("Zr3", "Zr", 0, 0, 0, 1, 1.2),
               ("Cl1", "Cl", 0.1084, 0.2167, 0.7765, 1, 2.0),
               ("Cl2", "Cl", 0.1255, 0.5627, 0.7506, 1, 2.0),
               ("Cl3", "Cl", 0.2102, 0.4205, 0.2784, 1, 2.0)],
        authors=["Kwak, H.", "et al.", "Jung, Y. S."],
        journal="Advanced Energy Materials", volume="11", year=2021, page="2003190",
        doi="10.1002/aenm.202003190", cod=None,
        quality="approximate", density=2.55,
        notes="APPROXIMATE MODEL: trigonal (hcp-anion, Li3YCl6-type) Li2ZrCl6 as made by ball milling. "
              "The cell is the value we recall from Kwak et al. (2021) and was not re-checked against the "
              "paper; the coordinates are those of our Li3YCl6 entry with Zr on the Y sites and Li "
              "occupancies scaled by 2/3 to the Li2ZrCl6 composition. Refine cell and coordinates. "
              "B assumed. Density: X-ray density of this cell.",
    ),
    dict(
        name="Li2HfCl6", formula="Cl6 Hf Li2", sg="P -3 m 1", z=3,
        cell=(10.9986, 10.9986, 5.9344, 90, 90, 120),
        sites=[("Li1", "Li", 0, 0.3256, 0.5, 0.58359, 3.0),
               ("Li2", "Li", 0, 0.3261, 0, 0.41641, 3.0),
               ("Hf1", "Hf", 1 / 3, 2 / 3, 0.4870, 0.56592, 1.2),
               ("Hf2", "Hf", 1 / 3, 2 / 3, 0.9812, 0.43408, 1.2),
               ("Hf3", "Hf", 0, 0, 0, 1, 1.2),
               ("Cl1", "Cl", 0.1084, 0.2167, 0.7765, 1, 2.0),
               ("Cl2", "Cl", 0.1255, 0.5627, 0.7506, 1, 2.0),
               ("Cl3", "Cl", 0.2102, 0.4205, 0.2784, 1, 2.0)],
        authors=["Kwak, H.", "et al.", "Jung, Y. S."],
        journal="Advanced Energy Materials", volume="11", year=2021, page="2003190",
        doi="10.1002/aenm.202003190", cod=None,
        quality="approximate", density=3.25,
        notes="APPROXIMATE MODEL by analogy: Li2HfCl6 taken isostructural with trigonal Li2ZrCl6 (Zr4+ and "
              "Hf4+ radii agree within 0.01 A), with the Li2ZrCl6 cell of our Li2ZrCl6 entry; no published "
              "Li2HfCl6 coordinates were used. Refine cell and coordinates. B assumed. Density: X-ray density "
              "of this cell.",
    ),
    dict(
        name="ZrCl4", formula="Cl4 Zr", sg="P 1 2/c 1", z=2,
        cell=(6.361, 7.407, 6.256, 90, 109.30, 90),
        sites=[("Zr1", "Zr", 0, 0.1605, 0.25, 1, 1.2),
               ("Cl1", "Cl", 0.2201, 0.3450, 0.5328, 1, 2.2),
               ("Cl2", "Cl", 0.7428, 0.8872, 0.9723, 1, 1.8)],
        authors=["Krebs, B."], journal="Zeitschrift fuer anorganische und allgemeine Chemie",
        volume="378", year=1970, page="263", doi=None, cod=None,
        quality="approximate", density=2.803,
        notes="Cell and space group from Krebs (1970). APPROXIMATE COORDINATES: constructed by us by least "
              "squares to Krebs' Zr-Cl bond lengths (2.307 terminal, 2.498/2.655 bridging) in this cell "
              "with Cl...Cl >= 3.4 A (result: 2 x 2.307, 2 x 2.498, 2 x 2.81 A; Zr...Zr 3.93 A). They are "
              "not the published coordinates. Refine coordinates. B assumed. Density: Merck Index d 2.803.",
    ),
    dict(
        name="HfCl4", formula="Cl4 Hf", sg="P 1 2/c 1", z=2,
        cell=(6.361, 7.407, 6.256, 90, 109.30, 90),
        sites=[("Hf1", "Hf", 0, 0.1605, 0.25, 1, 1.2),
               ("Cl1", "Cl", 0.2201, 0.3450, 0.5328, 1, 2.2),
               ("Cl2", "Cl", 0.7428, 0.8872, 0.9723, 1, 1.8)],
        authors=["Krebs, B."], journal="Zeitschrift fuer anorganische und allgemeine Chemie",
        volume="378", year=1970, page="263", doi=None, cod=None,
        quality="approximate", density=3.89,
        notes="Krebs (1970) reports HfCl4 isotypic with ZrCl4. APPROXIMATE MODEL: the ZrCl4 cell and our "
              "constructed ZrCl4 coordinates with Hf on the Zr site. Refine cell and coordinates. "
              "B assumed. Density: handbook value 3.89 g/cm3.",
    ),
    dict(
        name="ZrO2-m", formula="O2 Zr", sg="P 1 21/c 1", z=4,
        cell=(5.1462, 5.2082, 5.3155, 90, 99.249, 90),
        sites=[("Zr1", "Zr", 0.2754, 0.0395, 0.2083, 1, 0.3),
               ("O1", "O", 0.0700, 0.3317, 0.3447, 1, 0.5),
               ("O2", "O", 0.4496, 0.7569, 0.4792, 1, 0.5)],
        authors=["Whittle, K. R.", "et al."],
        journal="Neutron diffraction and MAS NMR of cesium tungstate defect pyrochlores (see COD 1528984)",
        volume="?", year=2006, page="?", doi=None, cod="1528984",
        quality="published", density=5.83,
        notes="Baddeleyite (monoclinic zirconia), COD 1528984. B values assumed. Density: X-ray density "
              "of baddeleyite (5.83 g/cm3; measured 5.68).",
    ),
    dict(
        name="Al2O3", formula="Al2 O3", sg="R -3 c:H", z=6,
        cell=(4.76050, 4.76050, 12.9956, 90, 90, 120),
        sites=[("Al1", "Al", 0, 0, 0.35216, 1, 0.147), ("O1", "O", 0.30668, 0, 0.25, 1, 0.183)],
        authors=["Lutterotti, L.", "Scardi, P."], journal="Journal of Applied Crystallography",
        volume="23", year=1990, page="246", doi="10.1107/S0021889890002382", cod="1000032",
        quality="published", density=3.987,
        notes="Corundum (NIST SRM 676 type standard). B = 8 pi^2 U_eq from the published anisotropic U.",
    ),
    dict(
        name="ZnO", formula="O Zn", sg="P 63 m c", z=2,
        cell=(3.2533, 3.2533, 5.2073, 90, 90, 120),
        sites=[("Zn1", "Zn", 1 / 3, 2 / 3, 0, 1, 0.6), ("O1", "O", 1 / 3, 2 / 3, 0.382, 1, 0.6)],
        authors=["Kihara, K.", "Donnay, G."], journal="Canadian Mineralogist", volume="23", year=1985,
        page="647", doi=None, cod="9004179",
        quality="published", density=5.61,
        notes="Zincite, COD 9004179. Typical room-temperature cells are slightly smaller (a 3.2498, "
              "c 5.2066 A): refine the lattice. B values assumed.",
    ),
    dict(
        name="CaF2", formula="Ca F2", sg="F m -3 m", z=4,
        cell=(5.4631, 5.4631, 5.4631, 90, 90, 90),
        sites=[("Ca1", "Ca", 0, 0, 0, 1, 0.5), ("F1", "F", 0.25, 0.25, 0.25, 1, 0.7)],
        authors=["Speziale, S.", "Duffy, T. S."], journal="Physics and Chemistry of Minerals", volume="29",
        year=2002, page="465", doi=None, cod="9007060",
        quality="published", density=3.18,
        notes="Fluorite, COD 9007060 (ambient-pressure cell). B values assumed.",
    ),
    dict(
        name="MgOH2", formula="H2 Mg O2", sg="P -3 m 1", z=1,
        cell=(3.142, 3.142, 4.766, 90, 90, 120),
        sites=[("Mg1", "Mg", 0, 0, 0, 1, 0.6), ("O1", "O", 1 / 3, 2 / 3, 0.2216, 1, 0.7),
               ("H1", "H", 1 / 3, 2 / 3, 0.4303, 1, 2.0)],
        authors=["Zigan, F.", "Rothbauer, R."], journal="Neues Jahrbuch fuer Mineralogie, Monatshefte",
        volume="1967", year=1967, page="137", doi=None, cod="1000054",
        quality="published", density=2.37,
        notes="Brucite Mg(OH)2 (neutron data), COD 1000054; load as 'MgOH2' or 'Mg(OH)2'. B assumed "
              "(COD entry gives none).",
    ),
    dict(
        name="Si", formula="Si", sg="F d -3 m:1", z=8,
        cell=(5.431020511, 5.431020511, 5.431020511, 90, 90, 90),
        sites=[("Si1", "Si", 0, 0, 0, 1, 0.4632)],
        authors=["Tiesinga, E.", "Mohr, P. J.", "Newell, D. B.", "Taylor, B. N."],
        journal="Reviews of Modern Physics", volume="93", year=2021, page="025010",
        doi="10.1103/RevModPhys.93.025010", cod=None,
        quality="published", density=2.329,
        notes="Diamond structure, origin choice 1 (Si on 8a at 0,0,0). a: CODATA 2018 Si lattice "
              "parameter (22.5 C, vacuum). B = 0.4632 A^2 (Flensburg & Stewart, Phys. Rev. B 60, 284, 1999).",
    ),
    dict(
        name="LaB6", formula="B6 La", sg="P m -3 m", z=1,
        cell=(4.1570, 4.1570, 4.1570, 90, 90, 90),
        sites=[("La1", "La", 0, 0, 0, 1, 0.3), ("B1", "B", 0.1975, 0.5, 0.5, 1, 0.4)],
        authors=["Eliseev, A. A.", "Efremov, V. A.", "Kuz'micheva, G. M.", "Konovalova, E. S.",
                 "Lazorenko, V. I.", "Paderno, Y. B.", "Khlyustova, S. Y."],
        journal="Kristallografiya", volume="31", year=1986, page="803", doi=None, cod="1000057",
        quality="published", density=4.71,
        notes="COD 1000057. NIST SRM 660 series certify a slightly smaller a (about 4.1569 A): refine. "
              "B values assumed (not in the COD entry). Density: measured value of the source.",
    ),
    dict(
        name="CeO2", formula="Ce O2", sg="F m -3 m", z=4,
        cell=(5.40972, 5.40972, 5.40972, 90, 90, 90),
        sites=[("Ce1", "Ce", 0, 0, 0, 1, 0.25), ("O1", "O", 0.25, 0.25, 0.25, 1, 0.6)],
        authors=["Artini, C.", "et al."],
        journal="Inorganic Chemistry (see COD 4343161)", volume="?", year=2015, page="?", doi=None,
        cod="4343161",
        quality="published", density=7.215,
        notes="Fluorite-type ceria, COD 4343161. NIST SRM 674b certifies a = 5.4117 A: refine. "
              "B values assumed.",
    ),
    dict(
        name="TiO2-anatase", formula="O2 Ti", sg="I 41/a m d:1", z=4,
        cell=(3.7842, 3.7842, 9.5146, 90, 90, 90),
        sites=[("Ti1", "Ti", 0, 0, 0, 1, 0.39), ("O1", "O", 0, 0, 0.20806, 1, 0.61)],
        authors=["Howard, C. J.", "Sabine, T. M.", "Dickson, F."], journal="Acta Crystallographica B",
        volume="47", year=1991, page="462", doi=None, cod=None,
        quality="published", density=3.893,
        notes="Anatase, origin choice 1 (Ti on 4a at 0,0,0). B values assumed (typical room-temperature).",
    ),
    dict(
        name="TiO2-rutile", formula="O2 Ti", sg="P 42/m n m", z=2,
        cell=(4.5937, 4.5937, 2.9587, 90, 90, 90),
        sites=[("Ti1", "Ti", 0, 0, 0, 1, 0.42), ("O1", "O", 0.30478, 0.30478, 0, 1, 0.60)],
        authors=["Howard, C. J.", "Sabine, T. M.", "Dickson, F."], journal="Acta Crystallographica B",
        volume="47", year=1991, page="462", doi=None, cod=None,
        quality="published", density=4.250,
        notes="Rutile. B values assumed (typical room-temperature).",
    ),
    dict(
        name="Fe3O4", formula="Fe3 O4", sg="F d -3 m:2", z=8,
        cell=(8.396, 8.396, 8.396, 90, 90, 90),
        sites=[("Fe1", "Fe", 0.125, 0.125, 0.125, 1, 0.4), ("Fe2", "Fe", 0.5, 0.5, 0.5, 1, 0.5),
               ("O1", "O", 0.2548, 0.2548, 0.2548, 1, 0.6)],
        authors=["Hamilton, W. C."], journal="Physical Review", volume="110", year=1958, page="1050",
        doi="10.1103/PhysRev.110.1050", cod=None,
        quality="published", density=5.197,
        notes="Magnetite, inverse spinel, origin choice 2 (Fe on 8a at 1/8,1/8,1/8 and 16d at 1/2,1/2,1/2; "
              "O on 32e). O x from Hamilton (1958); a = 8.396 A from NBS Monograph 25, sec. 5, p. 31 (1967). "
              "B values assumed (typical room-temperature). Cu K-alpha excites Fe fluorescence: expect a high "
              "background, and magnetite beside light phases is a strong microabsorption case.",
    ),
    dict(
        name="ZrSiO4", formula="O4 Si Zr", sg="I 41/a m d:2", z=4,
        cell=(6.607, 6.607, 5.982, 90, 90, 90),
        sites=[("Zr1", "Zr", 0, 0.75, 0.125, 1, 0.3), ("Si1", "Si", 0, 0.25, 0.375, 1, 0.3),
               ("O1", "O", 0, 0.0661, 0.1953, 1, 0.5)],
        authors=["Robinson, K.", "Gibbs, G. V.", "Ribbe, P. H."], journal="American Mineralogist",
        volume="56", year=1971, page="782", doi=None, cod=None,
        quality="published", density=4.66,
        notes="Zircon, origin choice 2 (Zr on 4a at 0,3/4,1/8; Si on 4b at 0,1/4,3/8; O on 16h): Si-O 1.622 A, "
              "Zr-O 2.131 and 2.268 A as published. Non-metamict crystal from Kragero, Norway; natural zircon "
              "carries 1-4 % Hf (density 4.6-4.7). B values assumed (the source refines anisotropic ones).",
    ),
]


def _q(text: str) -> str:
    if text == "?":
        return "?"  # CIF "unknown", not the string "?"
    return "'" + text.replace("'", "’") + "'"


def cif_text(p: dict) -> str:
    sg = gemmi.find_spacegroup_by_name(p["sg"])
    if sg is None:
        raise ValueError(f"{p['name']}: unknown space group {p['sg']}")
    a, b, c, al, be, ga = p["cell"]
    lines = [
        f"# {p['name']}: reference phase for xrdq, written by scripts/make_reference_cifs.py",
        f"# Source: {', '.join(p['authors'])} ({p['year']}). {p['journal']} {p['volume']}, {p['page']}."
        + (f" doi:{p['doi']}" if p["doi"] else "") + (f" COD {p['cod']}" if p["cod"] else ""),
        f"# Quality: {p['quality']}",
    ]
    words, line = p["notes"].split(), "#"
    for w in words:
        if len(line) + len(w) > 98:
            lines.append(line)
            line = "#"
        line += " " + w
    lines += [line, "", f"data_{p['name'].replace('(', '').replace(')', '')}",
              f"_chemical_name_common {_q(p['name'])}",
              f"_chemical_formula_sum {_q(p['formula'])}",
              f"_cell_formula_units_Z {p['z']}",
              "loop_", "_publ_author_name", *[_q(x) for x in p["authors"]],
              f"_journal_name_full {_q(p['journal'])}",
              f"_journal_volume {_q(str(p['volume']))}",
              f"_journal_year {p['year']}",
              f"_journal_page_first {_q(str(p['page']))}"]
    if p["doi"]:
        lines.append(f"_journal_paper_doi {p['doi']}")
    if p["cod"]:
        lines.append(f"_cod_database_code {p['cod']}")
    lines += [
        f"_citation_special_details {_q('reference values typed from the source above; ' + p['quality'])}",
        f"_xrdq_structure_quality {p['quality']}",
        f"_xrdq_published_density {p['density']}",
        f"_cell_length_a {a}", f"_cell_length_b {b}", f"_cell_length_c {c}",
        f"_cell_angle_alpha {al}", f"_cell_angle_beta {be}", f"_cell_angle_gamma {ga}",
        f"_space_group_IT_number {sg.number}",
        f"_space_group_name_H-M_alt {_q(sg.xhm())}",
        f"_space_group_name_Hall {_q(sg.hall)}",
        "loop_", "_space_group_symop_operation_xyz",
        *[_q(op.triplet()) for op in sg.operations()],
        "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
        "_atom_site_fract_z", "_atom_site_occupancy", "_atom_site_B_iso_or_equiv",
    ]
    for label, el, x, y, z, occ, biso in p["sites"]:
        lines.append(f"{label} {el} {x:.6f} {y:.6f} {z:.6f} {occ:.5f} {biso:.4f}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in PHASES:
        path = OUT / f"{p['name']}.cif"
        path.write_text(cif_text(p))
        print(f"wrote {path.relative_to(OUT.parents[1])} ({p['quality']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
