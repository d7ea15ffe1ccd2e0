"""``localnorm bench``: LRN (and its family) against every installed peer and a plain copy.

Entry points: :func:`localnorm.bench.runner.run` (returns the JSON document),
:class:`localnorm.bench.runner.BenchConfig`, :func:`localnorm.bench.schema.validate`.
Nothing here is imported by ``import localnorm``; peers are imported only when timed.
"""

from .runner import BenchConfig, run
from .schema import SCHEMA_VERSION, validate

__all__ = ["SCHEMA_VERSION", "BenchConfig", "run", "validate"]
