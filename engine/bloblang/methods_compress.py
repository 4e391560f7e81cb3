"""The ``lz4`` algorithm of the ``compress`` and ``decompress`` methods (with the ``lz4`` package).

Bento writes LZ4 frames as pierrec/lz4's default writer does: independent 4 MB blocks, a
content checksum, no block checksums and no content size, so that is what ``compress("lz4")``
produces (byte for byte for the documentation example). ``level`` 1-9 selects LZ4 HC (levels
below 3 use HC level 3); a level of 0 or less uses the fast compressor.
"""

from __future__ import annotations

from .methods import _COMPRESSORS, _DECOMPRESSORS
from .values import QueryError

_MAX_LEVEL = 9  # pierrec/lz4 accepts Fast plus Level1..Level9


def lz4_compress(data: bytes, level: int) -> bytes:
    import lz4.frame

    if level > _MAX_LEVEL:
        raise QueryError(f"invalid lz4 compression level {level}: expected at most {_MAX_LEVEL}")
    compressor = lz4.frame.LZ4FrameCompressor(
        block_size=lz4.frame.BLOCKSIZE_MAX4MB,
        block_linked=False,
        content_checksum=True,
        compression_level=max(level, 3) if level > 0 else 0,
        auto_flush=True,
    )
    return compressor.begin() + compressor.compress(data) + compressor.flush()


def lz4_decompress(data: bytes) -> bytes:
    import lz4.frame

    try:
        return lz4.frame.decompress(data)
    except RuntimeError as exc:
        raise QueryError(f"failed to decompress: lz4: {exc}") from None


_COMPRESSORS["lz4"] = lz4_compress
_DECOMPRESSORS["lz4"] = lz4_decompress
