"""Lazy re-exports (PEP 562), for ``adapters`` and its subpackages: written once, in :mod:`checkpoint._lazy`.

The state layer below ``adapters`` uses the same helper, so it lives there.
"""

from checkpoint._lazy import lazy_exports as lazy_exports

__all__ = ["lazy_exports"]
