"""``python -m precompute``: see ``precompute.build.cli``."""

from precompute.build.cli import main

raise SystemExit(main())
