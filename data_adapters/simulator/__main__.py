"""``python -m data_adapters.simulator``: serve the demo city until SIGTERM or SIGINT."""

import sys

from data_adapters.simulator.server import main

sys.exit(main())
