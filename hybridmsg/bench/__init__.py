"""``hybridmsg bench``: the same workloads through every transport, side by side.

The client runs in the bench process; RPC servers run in peer processes
(:mod:`hybridmsg.bench.peer`) on a real server (or cluster) started for the run. Modules:

* :mod:`.transports` -- the registry: which server to run, how to reach it;
* :mod:`.servers`, :mod:`.clusters` -- one server of each kind, or a cluster of several
  (as ``hybridmsg up --nodes N`` deploys it), and where each side connects;
* :mod:`.ombt` -- the same RPC through ombt, and ombt's report read back;
* :mod:`.clients`, :mod:`.raw`, :mod:`.raw_amqp` -- the load side and its servers
  (oslo.messaging API, raw nats-py, raw proton; :mod:`.raw_protocol` is what the raw ones
  share);
* :mod:`.peer` / :mod:`.peers` -- the server side, and the bench process's handle on it;
* :mod:`.measure`, :mod:`.procstats` -- timing, percentiles, CPU and memory from /proc;
* :mod:`.workloads` -- call, concurrent calls, cast, fanout, notifications, scale points;
* :mod:`.runner` -- one run over all transports;
* :mod:`.report`, :mod:`.chart`, :mod:`.machine`, :mod:`.output` -- table, targets, PNG,
  machine description, and the files of a run.

The command is :mod:`hybridmsg.commands.bench` (``python -m hybridmsg.bench`` too).
"""
