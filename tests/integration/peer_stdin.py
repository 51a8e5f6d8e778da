"""What peer processes (``rpc_peer``, ``spool_notifier``) share: waiting for the test to
close their standard input. Import it after ``eventlet.monkey_patch()``."""

import os
import select
import sys


def wait_for_eof() -> None:
    """Block until stdin closes; through select so that eventlet's hub keeps running."""
    while True:
        select.select([sys.stdin], [], [])
        if not os.read(sys.stdin.fileno(), 4096):
            return
