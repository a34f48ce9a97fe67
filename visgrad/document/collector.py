"""Bulk work that makes many long-lived objects, with Python's cyclic collector paused.

Reading a 10,000-node file or building its canvas makes hundreds of thousands of objects that
all stay alive. While they are being made, the collector keeps starting collections that
rescan every one of them and find nothing to free: that cost about a third of opening such a
file. Reference counting still frees everything that dies meanwhile; a cycle made inside the
block waits for the next collection after it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (nested blocks are fine)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
