"""``oslo-config-generator --namespace hybridmsg`` documents every option group of the drivers."""

import subprocess
import sys
from pathlib import Path


def test_config_generator_lists_every_driver_group():
    generator = Path(sys.executable).with_name("oslo-config-generator")
    sample = subprocess.run(
        [str(generator), "--namespace", "hybridmsg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for group in (
        "oslo_messaging_nats",
        "oslo_messaging_amqp",
        "hybridmsg_dual",
        "hybridmsg_rabbit_once",
    ):
        assert f"[{group}]" in sample
    assert "#also_listen_url = <None>" in sample
    assert "#spool_directory = <None>" in sample
    assert "# drop_oldest - the oldest notifications not being sent are dropped" in sample
