"""Everything a run leaves behind: ``results.json``, ``chart.png`` and ``report.md``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from hybridmsg.bench.chart import write_chart
from hybridmsg.bench.machine import machine_info, machine_text
from hybridmsg.bench.report import (
    evaluate_targets,
    markdown_table,
    skipped_text,
    targets_text,
    write_json,
)
from hybridmsg.bench.runner import Options

NOTIFY_NOTE = (
    "Notifications go to RabbitMQ in both rabbit and hybrid modes: the rabbit figure is "
    "the hybrid one too. CPU is in seconds per 1,000 operations (= ms per operation)."
)


def write_outputs(results: dict[str, dict], options: Options, command: str, out: Path) -> str:
    """Write the files of a run into ``out``; return the text report (markdown)."""
    out.mkdir(parents=True, exist_ok=True)
    servers = {
        r["backend"]["server"]: r["backend"]["version"] for r in results.values() if "backend" in r
    }
    targets = evaluate_targets(results)
    document = {
        "command": command,
        "machine": machine_info(servers),
        "options": asdict(options),
        "transports": results,
        "targets": targets,
    }
    write_json(document, out / "results.json")
    write_chart(results, out / "chart.png")
    text = "\n".join(
        [
            markdown_table(results, options.scale),
            NOTIFY_NOTE + "\n",
            "Targets (ratios measured in this run):\n",
            targets_text(targets),
            skipped_text(results),
            f"Command: `{command}`  \nMachine: {machine_text(document['machine'])}\n",
        ]
    )
    (out / "report.md").write_text(text)
    return text
