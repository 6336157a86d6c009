"""``python -m alveary``: the ``alveary`` command."""

import sys

from ._cli import main

sys.exit(main())
