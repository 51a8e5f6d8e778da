"""``hybridmsg bench``: the same workloads through every transport, side by side.

The client runs in the bench process; RPC servers run in peer processes
(:mod:`hybridmsg.bench.peer`) on a real server started for the run. Modules:

* :mod:`.transports` -- the registry: which server to run, how to reach it (add ``amqp`` here);
* :mod:`.clients`, :mod:`.raw`, :mod:`.raw_amqp` -- client and servers (oslo.messaging API,
  raw nats-py, raw proton; :mod:`.raw_protocol` is what the raw ones share);
* :mod:`.peer` / :mod:`.peers` -- the server side, and the bench process's handle on it;
* :mod:`.measure`, :mod:`.procstats` -- timing, percentiles, CPU and memory from /proc;
* :mod:`.workloads` -- call, concurrent calls, cast, fanout, notifications, scale points;
* :mod:`.runner` -- one run over all transports;
* :mod:`.report`, :mod:`.chart`, :mod:`.machine`, :mod:`.output` -- table, targets, PNG,
  machine description, and the files of a run.

The command is :mod:`hybridmsg.commands.bench` (``python -m hybridmsg.bench`` too).
"""
