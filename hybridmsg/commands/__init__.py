"""One module per ``hybridmsg`` command, each with ``run(args) -> int`` (see ``cli.py``)."""
