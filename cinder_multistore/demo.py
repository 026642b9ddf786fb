"""``cinder-multistore demo``: the four placement cases on a real cloud.

Starts the embedded cloud, runs Cinder's upload-to-image REST action for
each case of the rules table and prints where every image landed, whether
the copies are identical, and how long each upload took.
"""

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from cinder_multistore import workflow

CASES = [
    # title, volume type store, from base image?, expected stores
    ('store from the volume type', 'gamma', False, ['gamma']),
    ('co-location with the base image', None, True, ['beta', 'gamma']),
    ('store beats base image', 'alpha', True, ['alpha']),
    ('default store', None, False, ['alpha']),
]


class Status:
    """A live status line: the step and the seconds it has been running."""

    def __init__(self, stream=sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._text = ''
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> 'Status':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._tty:
            self._stream.write('\r\033[K')
        self._stream.flush()

    def step(self, text: str) -> None:
        """Show a new step; without a terminal, print it on its own line."""
        self._text, self._start = text, time.monotonic()
        if not self._tty:
            self._stream.write('... %s\n' % text)
            self._stream.flush()

    def _tick(self) -> None:
        spinner = '|/-\\'
        i = 0
        while not self._stop.wait(0.2):
            if self._tty and self._text:
                self._stream.write('\r\033[K%s %s (%.0fs)' % (
                    spinner[i % 4], self._text,
                    time.monotonic() - self._start))
                self._stream.flush()
                i += 1


def _run_case(cloud: workflow.Cloud, status: Status, title: str,
              type_id: str, base_id: str | None) -> dict:
    status.step('%s: creating the volume' % title)
    vol = cloud.volume(1, volume_type=type_id, image_id=base_id,
                       name='cms-demo')
    headers = cloud.headers_for(vol.id)
    status.step('%s: upload-to-image' % title)
    start = time.monotonic()
    image = cloud.upload(vol.id, 'cms-demo-%s' % title.split()[0])
    seconds = time.monotonic() - start
    digests = cloud.store_digests(image['id'])
    stores = workflow.image_stores(image)
    same = (sorted(digests) == sorted(stores)
            and set(digests.values()) == {image['checksum']})
    status.step('%s: cleaning up' % title)
    cloud.cinder.volumes.delete(vol.id)
    return {'case': title, 'headers': headers, 'stores': stores,
            'identical': same, 'seconds': seconds}


def run_cases(env: dict, status: Status) -> list[dict]:
    """Run the four cases; return one row per case."""
    cloud = workflow.Cloud(env)
    status.step('creating a base image in beta and gamma')
    base = cloud.image_in_stores(os.urandom(1024 * 1024), ['beta', 'gamma'])
    types = {}
    rows = []
    try:
        for title, store, from_base, expected in CASES:
            if store not in types:
                types[store] = cloud.volume_type(
                    'cms-demo-%s' % (store or 'nostore'), store)
            row = _run_case(cloud, status, title, types[store],
                            base['id'] if from_base else None)
            row['expected'] = expected
            rows.append(row)
    finally:
        for vol in cloud.cinder.volumes.list():
            if vol.name == 'cms-demo':
                if vol.status in ('available', 'error'):
                    cloud.cinder.volumes.delete(vol.id)
                workflow.wait_for(
                    'volume %s deleted' % vol.id,
                    lambda v=vol: v.id not in [
                        x.id for x in cloud.cinder.volumes.list()])
        for type_id in types.values():
            cloud.delete_volume_type(type_id)
    return rows


def format_table(rows: list[dict]) -> str:
    """The result table, one line per case."""
    head = ('case', 'header sent', 'stores', 'identical', 'seconds', 'ok')
    lines = [head]
    for r in rows:
        header = ', '.join('%s: %s' % (k, v[:8] if 'base' in k else v)
                           for k, v in r['headers'].items()) or '(none)'
        lines.append((r['case'], header, ','.join(r['stores']),
                      'yes' if r['identical'] else 'NO',
                      '%.1f' % r['seconds'],
                      'yes' if r['stores'] == r['expected'] else 'NO'))
    widths = [max(len(str(line[i])) for line in lines)
              for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append('  '.join(str(c).ljust(w) for c, w in zip(line, widths)))
        if n == 0:
            out.append('  '.join('-' * w for w in widths))
    return '\n'.join(out)


def main(directory: str | None, keep: bool,
         up: Callable | None = None, down: Callable | None = None) -> int:
    """Start the cloud, run the cases, print the table; 0 when all hold."""
    from cinder_multistore import stack
    up = up or stack.up
    down = down or stack.down
    directory = directory or tempfile.mkdtemp(prefix='cms-demo-')
    step = 'starting the embedded cloud'
    ok = False
    with Status() as status:
        try:
            status.step(step)
            up(directory)
            env = stack.load_env(directory)
            step = 'running the placement cases'
            rows = run_cases(env, status)
            ok = all(r['identical'] and r['stores'] == r['expected']
                     for r in rows)
        except Exception as exc:
            status.step('failed')
            print('\nFAILED while %s: %s\nLogs: %s/logs/'
                  % (step, exc, directory), file=sys.stderr)
            rows = None
    if rows:
        print(format_table(rows))
        print('\nall cases as expected' if ok else '\nSOME CASES FAILED')
    if keep:
        print('\nThe cloud is still running. Try:\n'
              '  source %s/stack.env\n'
              '  openstack image list </dev/null\n'
              '  openstack volume type list </dev/null\n'
              '  cinder --os-volume-api-version 3.70 list\n'
              'Stop it with: cinder-multistore stack down --dir %s'
              % (directory, directory))
    else:
        down(directory)
    return 0 if ok else 1
