"""``python -m stream.cli``: the `storewatch` command without its installed entry point."""

import sys

from stream.cli.main import main

sys.exit(main())
