"""``python -m graphls.cli``: the ``graphls`` command."""

import sys

from graphls.cli import main

sys.exit(main())
