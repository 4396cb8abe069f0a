"""``python -m vidsage_dev``: the local runner (see :mod:`vidsage_dev.cli`)."""

from vidsage_dev.cli import main

raise SystemExit(main())
