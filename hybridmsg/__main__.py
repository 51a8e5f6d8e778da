"""``python -m hybridmsg``: the same as the ``hybridmsg`` command."""

import sys

from hybridmsg.cli import main

sys.exit(main())
