"""netCDF-4 / HDF5 files written by xrdq (:func:`xrdq.io.write_netcdf` or ``pattern.to_netcdf``).

Only Pattern files are accepted: a variable ``intensity`` on dimension ``two_theta`` with an
``esd`` coordinate. Attributes come back exactly as written (sha256 still names the original file).
"""

from __future__ import annotations

import numpy as np

from ..errors import XrdqReadError
from ._pattern import check_extent, read_bytes

FORMAT = "netcdf"
EXTENSIONS = (".nc", ".nc4", ".h5", ".netcdf")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def can_read(path, head_bytes: bytes) -> bool:
    return head_bytes.startswith(_HDF5_MAGIC)


def read(path) -> list:
    import io

    import h5py
    import xarray as xr

    data = read_bytes(path)
    try:  # h5py first: damaged HDF5 fails here cleanly, before h5netcdf is involved
        with h5py.File(io.BytesIO(data), "r"):
            pass
    except Exception as exc:
        raise XrdqReadError(path, f"not a readable HDF5/netCDF-4 file ({type(exc).__name__}: {exc})",
                            where="byte 0") from None
    try:
        with xr.open_dataset(io.BytesIO(data), engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as exc:  # h5py/h5netcdf raise many unrelated types for damaged files
        raise XrdqReadError(path, f"not a readable netCDF-4 file ({type(exc).__name__}: {exc})",
                            where="byte 0") from None
    if "intensity" not in ds.data_vars:
        raise XrdqReadError(path, f"no 'intensity' variable (has {sorted(ds.data_vars)}); expected an xrdq Pattern")
    da = ds["intensity"]
    if da.dims != ("two_theta",) or "esd" not in da.coords:
        raise XrdqReadError(path, f"intensity has dims {da.dims} and coords {sorted(da.coords)}; expected "
                                  "dimension two_theta with an esd coordinate")
    x = da["two_theta"].values
    if x.size == 0:
        raise XrdqReadError(path, "empty scan: no points")
    if x.size > 1 and not (np.diff(x) > 0).all():
        raise XrdqReadError(path, "two_theta is not strictly increasing")
    check_extent(path, x)
    if not (np.isfinite(da.values).all() and np.isfinite(da["esd"].values).all()):
        raise XrdqReadError(path, "intensity or esd holds NaN/inf")
    out = xr.DataArray(
        da.values.astype(float),
        dims=("two_theta",),
        coords={"two_theta": x.astype(float), "esd": ("two_theta", da["esd"].values.astype(float))},
        name="intensity",
        attrs=dict(da.attrs),
    )
    return [out]
