"""One module per workload (or family of workloads). Each exports WORKLOADS, a dict of
name -> (title, prepare(ctx, handle) or None, run(ctx, handle, round) or None); the generic
ones (hit, miss) have prepare/run and run on every server, the others have their own run_*()
called by cli.run(). The registry keeps the order of --workloads' default."""

from . import blocklist, detect, groups, hitmiss, journal, metrics, observe, redis, upstreams

WORKLOADS = {}
for _m in (hitmiss, blocklist, upstreams, redis, journal, metrics, groups, observe, detect):
    WORKLOADS.update(_m.WORKLOADS)

BL_WORKLOADS = blocklist.BL_WORKLOADS
REDIS_WORKLOADS = redis.REDIS_WORKLOADS
JOURNAL_WORKLOADS = journal.JOURNAL_WORKLOADS
METRICS_WORKLOADS = metrics.METRICS_WORKLOADS
GROUPS_WORKLOADS = groups.GROUPS_WORKLOADS
OBSERVE_WORKLOADS = observe.OBSERVE_WORKLOADS
UPSTREAM_WORKLOADS = upstreams.UPSTREAM_WORKLOADS
DETECT_WORKLOADS = detect.DETECT_WORKLOADS
