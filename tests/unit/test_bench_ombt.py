"""ombt's report read back: totals per side, and the bench's figures from an rpc report."""

import pytest

from hybridmsg.bench.ombt import OmbtError, Side, parse_report, rpc_figures, totals


def side(title: str, total: int, start: float, stop: float, *, failed: int = 0,
         latency: float | None = None) -> str:
    """One section as ombt's ``TestResults.print_results`` prints it."""
    lines = [f"Aggregated {title} results:", "-" * 30]
    if failed:
        lines += [f"Error: {failed} message transfers failed", "Error: errors detected:",
                  "  'MessagingTimeout' (occurred 2 times)"]
    lines += [f"Total Messages: {total}",
              f"Test Interval: {start:f} - {stop:f} ({stop - start:f} secs)"]
    if stop > start:
        lines.append(f"Aggregate throughput: {total / (stop - start):f} msgs/sec")
    if latency is not None:
        lines += [f"Latency {total} samples (msecs): Average {latency:f} StdDev 0.1 Min 0.5 "
                  "Max 2.0", "Latency Distribution: ", "[0..<1):  165", "[1..<2):  35"]
    return "\n".join(lines) + "\n\n\n"


def rpc_report(client: str, server: str, test: str = "call") -> str:
    return (f"RPC {test} test results\n1 RPC clients, 1 RPC Servers (2 total)\n\n\n"
            + client + server)


CALL = rpc_report(
    side("RPC Client", 200, 100.0, 100.5, latency=0.9),
    side("RPC Server", 200, 100.01, 100.49, latency=0.5),
)


def test_a_report_parses_into_sides():
    assert parse_report(CALL) == {
        "client": Side(200, 100.0, 100.5, 0, 0.9),
        "server": Side(200, 100.01, 100.49, 0, 0.5),
    }


def test_totals_of_a_notification_report():
    report = (side("Notifier (Client)", 500, 1.0, 2.0, latency=1.0)
              + side("Listener (Server)", 499, 1.0, 2.5))
    assert totals(report) == {"notifier": 500, "listener": 499}


def test_failed_transfers_before_the_total_are_read():
    report = rpc_report(side("RPC Client", 200, 1.0, 2.0, failed=2), side("RPC Server", 198, 1, 2))
    assert parse_report(report)["client"] == Side(200, 1.0, 2.0, 2, None)
    assert totals(report) == {"client": 200, "server": 198}


def test_rpc_figures_run_from_first_send_to_last_handled():
    # cast: the server handles the last message after the client sent it
    report = rpc_report(side("RPC Client", 200, 10.0, 10.2), side("RPC Server", 200, 10.1, 10.5),
                        "cast")
    assert rpc_figures(report, 200) == {"ops": 200, "server_total": 200, "ops_per_s": 400.0}
    assert rpc_figures(CALL, 200) == {
        "ops": 200, "server_total": 200, "ops_per_s": 400.0, "mean_ms": 0.9
    }


@pytest.mark.parametrize(
    ("report", "calls", "error"),
    [
        (rpc_report(side("RPC Client", 200, 1, 2), side("RPC Server", 198, 1, 2)), 200,
         "client total 200 != server total 198 (200 sent)"),
        (rpc_report(side("RPC Client", 200, 1, 2, failed=3), side("RPC Server", 200, 1, 2)), 200,
         "200 sent, 200 counted, 3 transfers failed"),
        (CALL, 500, "500 sent, 200 counted, 0 transfers failed"),
        ("Traceback (most recent call last):\n...", 200, "no client and server results"),
    ],
)
def test_a_report_that_misses_messages_is_refused(report, calls, error):
    with pytest.raises(OmbtError, match=error.replace("(", r"\(").replace(")", r"\)")):
        rpc_figures(report, calls)
