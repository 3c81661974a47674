"""A redis-server of our own on loopback, shared by the bench, the soak and the integration
tests: no persistence (--save '', no AOF), its own directory, a redis-py client with decoded
replies. stop() kills it (SIGKILL: as abrupt as a crash); start() again reuses the same port
and comes back empty (an explicit SAVE writes dump.rdb to its directory, which a server started
later on the same directory loads). Needs redis-py (python3-redis) only for the client."""

import os
import shutil
import subprocess
import time

from .ports import free_port


def redis_server_exe():
    return os.environ.get('MINEWALL_REDIS_SERVER') or shutil.which('redis-server') or \
        '/usr/bin/redis-server'


class RedisServer:
    def __init__(self, directory, port=None, password=None, exe=None, log_path=None,
                 new_session=False, socket_timeout=5, taken=None):
        import redis  # here, so that importing this module never needs redis-py
        self._redis = redis
        self.port = port or free_port(taken=taken)
        self.password = password
        self.dir = directory
        self.exe = exe or redis_server_exe()
        self.log_path = log_path
        self.new_session = new_session  # own process group: killpg() reaches it and only it
        self.proc = None
        self.starts = 0
        self.client = redis.Redis(host='127.0.0.1', port=self.port, password=password,
                                  decode_responses=True, socket_timeout=socket_timeout)

    @property
    def url(self):
        auth = ':%s@' % self.password if self.password else ''
        return 'redis://%s127.0.0.1:%d' % (auth, self.port)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        """Start it and wait (bounded) until it answers PING; RuntimeError when it does not."""
        args = [self.exe, '--port', str(self.port), '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', str(self.dir)]
        if self.password:
            args += ['--requirepass', self.password]
        out = open(self.log_path, 'ab') if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=self.new_session)
        finally:
            if self.log_path:
                out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.ping()
                return self
            except self._redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError('redis-server did not start on port %d' % self.port)
                time.sleep(0.05)

    def stop(self):
        """Kill it (SIGKILL) and wait, bounded."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self.client.connection_pool.disconnect()
