"""``python -m precompute``: see ``precompute.cli``."""

from precompute.cli import main

raise SystemExit(main())
