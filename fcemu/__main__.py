"""``python -m fcemu``."""

from __future__ import annotations

import sys

from fcemu.cli.main import main

sys.exit(main())
