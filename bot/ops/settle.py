"""Once a long-running kukey process has started: its start-up objects out of the garbage collector's way.

Start-up leaves about 100,000 objects that live as long as the process (modules, classes, functions, the
SQLAlchemy mappers and pydantic models). CPython's collector scans all of them in each full (oldest
generation) collection, and the first one comes due soon after start: measured in `python -m bench --only
revoke`, a 66-76 ms pause in the serving process (the responder's TOTP submission, on the ack path) and
another in the worker (the revoke job, before its deletes went out), of the 200-300 ms the first revoke
took beyond KuCoin's own 100 ms. `settle()` collects once, at start, and moves the survivors into the
permanent generation (`gc.freeze()`), which later collections do not scan: they look only at what the
process made since, and the pause is gone for good, not only moved.

Nothing is kept alive by it that would otherwise be freed: the collection runs first, and a frozen object
still goes when its reference count drops to zero (the freeze only takes it out of the cycle collector's
scans; a cycle among frozen objects would stay, which start-up objects kept for the process's life are not).
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze what survived; how many objects are frozen (0 only where the collector is off)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
