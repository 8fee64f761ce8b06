"""``python -m xpgrad.bench``: see :mod:`xpgrad.bench.cli`."""

from .cli import main

raise SystemExit(main())
