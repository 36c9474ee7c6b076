"""The compiled peak kernels (xrdq/model/_kernels.c) and running median (xrdq/_cfilters.c); everything else is in
pyproject.toml.

-ffp-contract=off: no fused multiply-adds, so a fit gives the same numbers on every CPU (aarch64 compilers
contract by default); -fno-math-errno lets sqrt compile to one instruction. No -ffast-math: the kernels'
results must not depend on the compiler's reassociation (docs/performance.md, "Compiled kernels").
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    ARGS = ["/O2", "/fp:precise"]
else:
    ARGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]

setup(ext_modules=[Extension("xrdq.model._kernels", ["xrdq/model/_kernels.c"], extra_compile_args=ARGS),
                   Extension("xrdq._cfilters", ["xrdq/_cfilters.c"], extra_compile_args=ARGS)])
