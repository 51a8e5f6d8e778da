"""The docs say what the code does: snippets as rendered, drivers as installed, no file
that is not in the repository, commands a new user can type, settings that are used."""

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from hybridmsg.drivers.amqp1.settings import AmqpSettings
from hybridmsg.drivers.nats.settings import NatsSettings
from hybridmsg.plan import TLS, Backend, BackendKind, Mode, Node, Plan, Service
from hybridmsg.services import render, service_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
CA = "/var/lib/hybridmsg/tls/ca.pem"
SPOOL = "/var/lib/hybridmsg/spool/{service}"


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", path.read_text(), re.M | re.S)


def rendered(mode: Mode) -> str:
    """nova's snippet as `hybridmsg config nova` prints it (masked), on the ports the docs
    show, with the local CA and spool directory of a root deployment."""
    rabbitmq = Backend(BackendKind.RABBITMQ, (Node("127.0.0.1", 45893, "h@localhost", 1),))
    nats = Backend(BackendKind.NATS, (Node("127.0.0.1", 41877),))
    plan = Plan(
        mode,
        (Service("nova", "nova", "nova", "pw"),),
        rabbitmq=rabbitmq if mode.needs_rabbitmq else None,
        router=nats if mode.needs_router else None,
        tls=TLS(CA, "/c.pem", "/k.pem"),
        spool_dir=SPOOL,
    )
    return render(service_config(plan, "nova", masked=True))


def shown_as_rendered(shown: str, real: str) -> bool:
    """``shown`` is ``real`` with runs of lines left out where it says ``...``."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n"
        for line in shown.splitlines()
    )
    return re.fullmatch(pattern, real) is not None


SNIPPET = re.compile(r"^\[DEFAULT\]\ntransport_url = (nats|rabbit|amqp)://nova:\*\*\*@", re.M)


def service_snippets() -> list[tuple[str, str]]:
    """(doc, block) for every ini block of the docs that shows what `config nova` prints
    (a password masked as ``***``; hand-written examples say PASSWORD)."""
    return [
        (doc.name, block)
        for doc in [*DOCS, ROOT / "README.md"]
        for block in blocks(doc, "ini")
        if SNIPPET.search(block)
    ]


def test_the_docs_show_service_snippets():
    assert {doc for doc, _ in service_snippets()} >= {"security.md", "modes.md"}


@pytest.mark.parametrize(("doc", "block"), service_snippets())
def test_a_snippet_in_the_docs_is_what_config_prints(doc, block):
    notify = re.search(r"^driver = (\w+)", block, re.M).group(1)
    rpc = re.search(r"^transport_url = (\w+)://", block, re.M).group(1)
    mode = Mode.ROUTER if notify == "noop" else Mode.HYBRID if rpc == "nats" else Mode.RABBIT
    assert shown_as_rendered(block, rendered(mode)), f"{doc}:\n{block}\nvs\n{rendered(mode)}"


def test_the_drivers_doc_names_every_installed_driver():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    schemes = sorted(project["entry-points"]["oslo.messaging.drivers"])
    text = (ROOT / "docs" / "drivers.md").read_text()
    for scheme in schemes:
        assert f"| `{scheme}://` |" in text, scheme
    numbers = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    assert f"hybridmsg installs {numbers[len(schemes)]} oslo.messaging drivers" in text


def test_the_architecture_doc_points_at_nothing_outside_the_repository():
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert "DESIGN.md" not in text and "shared/" not in text
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / "docs" / link).exists(), link
    for name in re.findall(r"\b([a-z_0-9]+\.py)\b", text):
        assert list((ROOT / "hybridmsg").rglob(name)), name


def test_the_readme_commands_work_after_the_quick_start():
    text = (ROOT / "README.md").read_text()
    for block in blocks(ROOT / "README.md", "sh"):
        for line in block.splitlines():
            if "hybridmsg " in line or "pytest" in line:
                assert line.startswith((".venv/bin/", "./")), line
    assert "source .venv/bin/activate" in text  # how the bare `hybridmsg` of the reference works
    assert ".venv/bin/hybridmsg down" in text  # how to stop what the quick start leaves running
    assert "about 18 minutes" in text  # how long the tests take


@pytest.mark.parametrize(
    ("settings", "users"),
    [
        (
            AmqpSettings,
            ("drivers/amqp1/wire.py", "drivers/amqp1/engine.py", "drivers/amqp1/driver.py"),
        ),
        (NatsSettings, ("drivers/nats/wire.py", "drivers/nats/driver.py")),
    ],
)
def test_every_driver_setting_is_used(settings, users):
    """An option read into the settings and never used is documented but does nothing."""
    code = "".join((ROOT / "hybridmsg" / path).read_text() for path in users)
    for field in dataclasses.fields(settings):
        assert re.search(rf"\.{field.name}\b", code), f"{settings.__name__}.{field.name} unused"
