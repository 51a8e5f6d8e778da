"""Options of every hybridmsg driver, for ``oslo-config-generator --namespace hybridmsg``."""

from hybridmsg.drivers import dual
from hybridmsg.drivers.amqp1 import opts as amqp_opts
from hybridmsg.drivers.nats import opts as nats_opts
from hybridmsg.drivers.spool import opts as spool_opts


def list_opts():
    return [
        (nats_opts.GROUP, nats_opts.OPTS),
        (amqp_opts.GROUP, amqp_opts.OPTS),
        (dual.GROUP, dual.OPTS),
        (spool_opts.GROUP, spool_opts.OPTS),
    ]
