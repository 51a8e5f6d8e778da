"""Options of every hybridmsg driver, for ``oslo-config-generator --namespace hybridmsg``."""

from hybridmsg.drivers.nats import opts as nats_opts


def list_opts():
    return [(nats_opts.GROUP, nats_opts.OPTS)]
