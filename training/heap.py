"""Return freed memory to the system during a long training run (glibc only).

glibc keeps freed heap memory for reuse unless the free block at the top of an arena
exceeds its trim threshold, which it raises up to 32 MiB as large arrays come and go.
Training frees large temporary arrays between steps, and the kept memory counts toward the
process's resident peak: on the Dask driver at 200,000 clients it held 100-340 MiB of free
heap between steps (BENCHMARKS.md, "Recorded by hand", D). Dask's nanny starts every worker
with the same threshold (`MALLOC_TRIM_THRESHOLD_=65536`, its `pre-spawn-environ` default);
`alliance-risk train` sets it for its own process, where the environment variable would
come too late.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: mallopt's parameter number for the trim threshold (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
#: Dask's value for its workers: freed top-of-heap blocks over 64 KiB go back at once.
TRIM_THRESHOLD_BYTES = 65_536


def return_freed_memory(threshold: int = TRIM_THRESHOLD_BYTES) -> bool:
    """Set glibc's trim threshold for this process; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, threshold))
