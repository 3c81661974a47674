"""Readings from /proc (process CPU, RSS, threads; the machine's CPU and loopback UDP counters)
and stopping a process group, for the bench, the soak and the integration tests. Linux only;
no dependencies beyond the standard library."""

import os
import signal
import subprocess

CLK_TCK = os.sysconf('SC_CLK_TCK')


def asan_build(binary):
    """Is binary linked with AddressSanitizer? Its allocator keeps freed memory in a
    quarantine and shadow memory adds to RSS, so RSS figures mean something else there."""
    try:
        out = subprocess.run(['ldd', binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return 'libasan' in out


def stat_cpu(data):
    """(comm, utime+stime seconds) of a /proc/.../stat line."""
    end = data.rindex(')')  # comm may contain spaces and parentheses
    fields = data[end + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return data[data.index('(') + 1:end], (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_seconds(pid):
    """utime+stime of the process (the kernel sums every thread, live and exited) in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        return stat_cpu(f.read())[1]


def proc_thread_cpu(pid):
    """{thread name: utime+stime seconds} summed over the live threads of the process with that
    name (/proc/PID/task/TID/stat; minewall names its threads mw-worker-N, mw-querylog,
    mw-dnstap). Threads that exited are missing: use it for splits, proc_cpu_seconds for totals."""
    out = {}
    base = '/proc/%d/task' % pid
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open('%s/%s/stat' % (base, tid)) as f:
                name, sec = stat_cpu(f.read())
        except OSError:  # the thread ended meanwhile
            continue
        out[name] = out.get(name, 0.0) + sec
    return out


def udp_counters():
    """Udp: line of /proc/net/snmp (this network namespace) as a dict."""
    with open('/proc/net/snmp') as f:
        rows = [l.split() for l in f if l.startswith('Udp:')]
    return dict(zip(rows[0][1:], map(int, rows[1][1:])))


def system_cpu():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / CLK_TCK, (v[7] if len(v) > 7 else 0) / CLK_TCK


def proc_status(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return line.split(':', 1)[1].strip()
    return None


def proc_rss_kb(pid):
    v = proc_status(pid, 'VmRSS')
    return int(v.split()[0]) if v else None


def proc_threads(pid):
    v = proc_status(pid, 'Threads')
    return int(v) if v else None


def stop_process(proc, grace=5.0):
    """SIGTERM the process group we created for proc, SIGKILL after grace seconds. Returns the
    signal that ended it (None if it had already exited)."""
    if proc is None or proc.poll() is not None:
        return None
    used = None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        used = sig
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # reap anything left in the group (start_new_session: the group id is proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return used
