"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS").

Layout: two zero bytes, one type code, one byte ``ndim``, then ``ndim`` big-endian uint32 dimension sizes, then the
values in C order, big-endian. Files are usually gzipped (``*.gz``).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ganbench.errors import DataError

# type code -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def decode_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array in native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{source} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: IDX header truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{source}: IDX file of shape {dims} should be {expected} bytes, found {len(data)}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (inverse of ``decode_idx``)."""
    array = np.asarray(array)
    for code, dtype in IDX_TYPES.items():
        if array.dtype.newbyteorder(">") == dtype.newbyteorder(">"):
            header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            return header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    raise ValueError(f"IDX cannot store dtype {array.dtype}")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gunzipping it first if its name ends in ``.gz``."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    return decode_idx(data, str(path))
