"""``hybridmsg faults``: break the servers under load and count what it did to callers.

* :mod:`.load` -- the load (RPC callers, an RPC server that counts late executions, a
  notifier, a listener that counts deliveries) on one service's oslo.messaging config;
* :mod:`.peer` -- that load in a process of its own, configured from the service snippet;
* :mod:`.testbed` -- RabbitMQ and the router for the runs, with kill -9 / stop / start;
* :mod:`.scenario` -- one fault under load, summed up as an :class:`~.scenario.Outcome`;
* :mod:`.table`, :mod:`.runner` -- every scenario in every mode, side by side.
"""
