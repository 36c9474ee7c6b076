"""CIF texts shared by the crystal tests."""

#: the head of an anisotropic-displacement loop (label, U11 U22 U33 U12 U13 U23); rows follow it
ANISO_U_LOOP = """loop_
_atom_site_aniso_label
_atom_site_aniso_U_11
_atom_site_aniso_U_22
_atom_site_aniso_U_33
_atom_site_aniso_U_12
_atom_site_aniso_U_13
_atom_site_aniso_U_23
"""

LIF = """data_LiF
_cell_length_a 4.027
_cell_length_b 4.027
_cell_length_c 4.027
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F m -3 m'
_cell_formula_units_Z 4
_chemical_formula_sum 'F Li'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_B_iso_or_equiv
Li1 Li 0 0 0 1 1.0
F1 F 0.5 0.5 0.5 1 0.8
"""

# Corundum, Lewis, Schwarzenbach & Flack (1982), hexagonal axes, isotropic B.
CORUNDUM = """data_corundum
_cell_length_a 4.7589
_cell_length_b 4.7589
_cell_length_c 12.991
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_symmetry_space_group_name_H-M 'R -3 c'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_U_iso_or_equiv
Al1 Al 0 0 0.35216 0.0030
O1 O 0.30624 0 0.25 0.0035
"""

# A low-symmetry test cell: P2_1/c with a mixed Zr/Al site and half-occupied Li (not a real phase).
MIXED = """data_mixed
_cell_length_a 6.52
_cell_length_b 7.31
_cell_length_c 9.87
_cell_angle_alpha 90
_cell_angle_beta 103.4
_cell_angle_gamma 90
_space_group_name_H-M_alt 'P 1 21/c 1'
_space_group_IT_number 14
loop_
_space_group_symop_operation_xyz
'x, y, z'
'-x, y+1/2, -z+1/2'
'-x, -y, -z'
'x, -y+1/2, z+1/2'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_B_iso_or_equiv
Zr1 Zr 0.1234 0.2345 0.3456 0.7 0.8
Al1 Al 0.1234 0.2345 0.3456 0.3 0.8
Cl1 Cl 0.4012 0.0871 0.1203 1 1.5
Cl2 Cl 0.8123 0.3912 0.0456 1 1.6
Cl3 Cl 0.2876 0.6123 0.4012 1 1.4
Li1 Li 0.5 0 0 0.5 2.5
Li2 Li 0.6543 0.7891 0.2345 0.5 2.5
"""

# Brucite Mg(OH)2 with its hydrogen (COD 1000054, B of H assumed).
BRUCITE = """data_brucite
_cell_length_a 3.142
_cell_length_b 3.142
_cell_length_c 4.766
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_symmetry_space_group_name_H-M 'P -3 m 1'
_chemical_formula_sum 'H2 Mg O2'
_cell_formula_units_Z 1
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_B_iso_or_equiv
Mg1 Mg 0 0 0 1 0.6
O1 O 0.3333 0.6667 0.2216 1 0.7
H1 H 0.3333 0.6667 0.4303 1 2.0
"""
