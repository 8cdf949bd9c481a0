"""``python -m fcemu``."""

from __future__ import annotations

import sys

from fcemu.cli import main

sys.exit(main())
