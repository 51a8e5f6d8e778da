"""The test run's own output stays quiet: nothing printed past pytest's capture, and the
warnings of dependencies that the tests cannot act on filtered in pyproject.toml."""

import re
import warnings
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_eventlets_deprecation_warning_is_filtered():
    """eventlet warns on import (oslo's eventlet executor imports it); the warning names
    a dependency's decision, nothing a test can fix."""
    import eventlet  # here, not at collection: importing it patches nothing, but warns

    with warnings.catch_warnings(record=True) as shown:  # keeps the filters pytest applies
        warnings.warn(eventlet._DEPRECATED, eventlet.EventletDeprecationWarning, stacklevel=1)
    assert shown == []


def test_no_test_prints_past_the_capture():
    """Progress and figures go to captured output: pytest shows it for a failing test or
    with -rP, and keeps `pytest -q` to its summary otherwise."""
    for path in TESTS.rglob("*.py"):
        if path != Path(__file__):
            text = path.read_text()
            assert not re.search(r"\b(capsys|capfd|capsysbinary)\.disabled\(", text), path
