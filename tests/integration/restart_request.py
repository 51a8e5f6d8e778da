"""The service restart command of the Ansible upgrade test (``hybridmsg_restart_command``).

Usage: ``python -m tests.integration.restart_request SOCKET``, run by upgrade.yml with
``HYBRIDMSG_SERVICE``, ``HYBRIDMSG_CONFIG`` and ``HYBRIDMSG_STAGE`` in its environment, as
a deployer's command would be. It asks the test's workload, listening on the Unix socket
SOCKET, to restart the processes of that service that read that config, and exits 0 once
they run it, or 1 with the reason.
"""

import os
import sys
from multiprocessing.connection import Client


def main() -> None:
    with Client(sys.argv[1], family="AF_UNIX") as connection:
        connection.send({key: os.environ[f"HYBRIDMSG_{key.upper()}"]
                         for key in ("service", "config", "stage")})
        answer = connection.recv()
    if answer != "ok":
        sys.exit(f"restart failed: {answer}")


if __name__ == "__main__":
    main()
