"""``python -m hybridmsg.bench``: the same as ``hybridmsg bench``."""

import argparse
import sys
import warnings

from hybridmsg.commands.bench import DESCRIPTION, add_arguments, run
from hybridmsg.errors import HybridmsgError


def main() -> int:
    parser = argparse.ArgumentParser(prog="hybridmsg bench", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    try:
        return run(args)
    except HybridmsgError as err:
        print(f"hybridmsg bench: {err}", file=sys.stderr)
        return err.exit_code


sys.exit(main())
