"""Where the local stack keeps its state, and how a command tells the user to reach it again.

The state directory is ``--state-dir DIR``, else ``$HYBRIDMSG_STATE_DIR``, else
``/var/lib/hybridmsg`` for root (root's home is closed to the ``rabbitmq`` user that the
RabbitMQ node runs as), else ``$XDG_STATE_HOME/hybridmsg`` (``~/.local/state/hybridmsg``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from hybridmsg.errors import UsageError

ENV = "HYBRIDMSG_STATE_DIR"
ROOT_DEFAULT = Path("/var/lib/hybridmsg")
#: the rule above, for ``--help``
RULE = f"${ENV}, else {ROOT_DEFAULT} for root, else ~/.local/state/hybridmsg"


def default_state_dir() -> Path:
    """The state directory when no ``--state-dir`` is given (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    if os.geteuid() == 0:
        return ROOT_DEFAULT
    state_home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state_home) / "hybridmsg"


@dataclass(frozen=True)
class StateDir:
    """A state directory, and whether the user named it on the command line (then every
    command this program suggests names it too)."""

    path: Path
    given: bool

    @classmethod
    def of(cls, state_dir: Path | str | None) -> StateDir:
        """``state_dir`` as given, else the default; UsageError when it cannot be a
        directory (it, or a parent of it, is a file)."""
        found = cls(Path(state_dir), True) if state_dir else cls(default_state_dir(), False)
        found.require_directory()
        return found

    def require_directory(self) -> None:
        where = "--state-dir" if self.given else f"the state directory (${ENV} or default)"
        for path in (self.path, *self.path.parents):
            if path.exists():
                if not path.is_dir():
                    raise UsageError(
                        f"{where} {self.path}: {path} is a file, not a directory; give a "
                        "directory (it is made if missing) with --state-dir DIR"
                    )
                return

    def command(self, arguments: str) -> str:
        """``hybridmsg ARGUMENTS``, with ``--state-dir`` when the user gave one."""
        given = f" --state-dir {shlex.quote(str(self.path))}" if self.given else ""
        return f"hybridmsg {arguments}{given}"
