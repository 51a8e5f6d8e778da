"""The ``[hybridmsg_rabbit_once]`` options of the notification spool. Declarations only."""

from oslo_config import cfg

from hybridmsg.services import SPOOL_SECTION

GROUP = SPOOL_SECTION
BLOCK, DROP_OLDEST = "block", "drop_oldest"

OPTS = [
    cfg.StrOpt(
        "spool_directory",
        help="Directory of this service's notification spool (one SQLite file per process "
        "name in it). When set, notify() returns as soon as the notification is on local "
        "disk, and a sender thread publishes it to RabbitMQ in order, with publisher "
        "confirms, keeping it until RabbitMQ confirmed it, also across a restart of the "
        "service ([oslo_messaging_notifications] retry no longer limits the attempts). "
        "Unset: notify() sends to RabbitMQ itself and waits while it is away.",
    ),
    cfg.IntOpt(
        "spool_max_messages",
        default=100_000,
        min=1,
        help="The most notifications the spool holds; then spool_when_full applies.",
    ),
    cfg.IntOpt(
        "spool_max_bytes",
        default=256 * 1024 * 1024,
        min=1024,
        help="The most bytes of notifications (serialized) the spool holds; then "
        "spool_when_full applies. A notification larger than this is taken when the "
        "spool is empty.",
    ),
    cfg.StrOpt(
        "spool_when_full",
        default=BLOCK,
        choices=[
            (BLOCK, "notify() waits until the sender made room (logged once per outage)"),
            (
                DROP_OLDEST,
                "the oldest notifications not being sent are dropped to make room "
                "(each drop counted and logged)",
            ),
        ],
        help="What notify() does when the spool is full.",
    ),
    cfg.BoolOpt(
        "spool_fsync",
        default=False,
        help="Flush each notification to the disk before notify() returns, so that it "
        "survives a power cut too (costs a disk flush per notification). Off, a "
        "notification survives a crash of the service (kill -9) but a power cut can lose "
        "the last ones accepted.",
    ),
    cfg.FloatOpt(
        "spool_flush_timeout",
        default=5.0,
        min=0.0,
        help="Seconds the transport's cleanup() waits for the spool to empty; what is left "
        "is sent when the service starts again.",
    ),
]
