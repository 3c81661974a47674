"""minewall's benchmark as a package; tools/bench is its entry point.

  util       logging, BenchError, formatting, medians
  proc       /proc readings (CPU, RSS, threads, machine CPU, UDP counters); stopping a process
  ports      free loopback ports (also used by tests/integration/conftest.py and tools/soak)
  dnswire    a minimal DNS client (query packets, one exchange)
  redisproc  a redis-server of our own (also used by the tests and tools/soak)
  zone       the bench.test. zone knotd serves, query files
  listgen    the generated blocklist (realistic domain names), cached on disk
  servers    config writers and start/stop for minewall, minewall-base, Unbound, dnsdist, knotd
  dnsperf    a bounded dnsperf run and measure(): one measured run with CPU, RSS, datagrams
  workloads/ one module per workload: hitmiss, blocklist, redis, journal, metrics, groups,
             observe, detect
  cli        command line, the run, the table

Adding a workload: write prepare(ctx, srv) (once per server, may be None) and
run(ctx, srv, round_no) -> measurement dict (use dnsperf.measure()) in a module under
workloads/, export them in its WORKLOADS and list the module in workloads/__init__.py.
servers.start_server(ctx, name, opts) passes opts to the server's config writer, so a workload
can restart servers with other configs (blocklists, metrics on/off, ...).
"""
