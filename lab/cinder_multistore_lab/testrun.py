# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The project's test command: every suite, on fresh embedded clouds.

Without arguments (what CI runs), the release matrix:

* the newest release (this virtualenv): the unit tests, then on a stack
  started for the run the functional tests, upstream tempest's image tests,
  upstream tempest's volume API suite (with this project's Cinder image
  service; the tests that need Nova skip, the few that fail because of
  upstream Cinder are listed with their reason in
  :data:`cinder_multistore_lab.stack.tempest_run.UPSTREAM_VOLUME_API_EXCLUDED`)
  and this project's tempest plugin;
* each release of :data:`MATRIX` (its own virtualenv, built when missing),
  under each Glance server listed: the unit tests once, then on a stack per
  server the functional tests, upstream tempest's image tests and the
  plugin. They run beside the newest release's suites from the start; the
  functional tests of their uwsgi stacks wait until the newest release's
  are done (:func:`_run_matrix`).

``--release R`` runs that one release the same way (every Glance server it
has, or ``--glance-server``). Prints the pass/fail/skip counts of each suite
and a total line, and exits non-zero when anything failed or a suite ran no
test. Each stack is stopped at the end whatever happened.
"""

import argparse
import collections
from collections.abc import Callable
import dataclasses
import functools
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import TextIO
import xml.etree.ElementTree as ET


UPSTREAM_IMAGE_TESTS = [
    'tempest.api.image.v2.test_images',
    'tempest.api.image.v2.test_images_negative',
    'tempest.api.image.v2.admin',
]
PLUGIN_TESTS = ['cinder_multistore.tempest']
#: The unit tests: the product's and the lab's; no cloud needed.
UNIT_TESTS = ['tests/unit', 'lab/cinder_multistore_lab/tests/unit']

#: The house rules, as ``tox -e pep8`` checks them: (name, command).
PEP8_CHECKS = (
    ('flake8 (with hacking)', ['flake8', 'cinder_multistore', 'lab',
                               'tests']),
    ('mypy (product package)', ['mypy']),
    ('doc8', ['doc8', 'README.rst', 'doc/source', 'releasenotes/notes']),
)

#: Every suite, in the order they run.
SUITES = ('pep8', 'unit', 'functional', 'tempest-image', 'volume-api',
          'plugin', 'peers')
#: What a release of the matrix runs (the newest runs every suite).
RELEASE_SUITES = ('unit', 'functional', 'tempest-image', 'plugin')
#: Older releases CI runs besides the newest, with their Glance servers,
#: in the order their stacks run: the short eventlet suites first, beside
#: the newest release's functional tests; the uwsgi stack's functional
#: tests wait for those to end (see :func:`_run_matrix`).
MATRIX = (('2025.1', ('eventlet', 'uwsgi')),)

#: Glance servers that run only the suites whose code paths differ by
#: server (server -> tempest suites run there): the copy writers are
#: native threads fed from green ones under eventlet, so co-location, the
#: stores' faults, load and hostile input run on both servers; Glance's own
#: API (upstream tempest) takes the same paths under both.
SERVER_ONLY = {'eventlet': ('plugin',)}
#: The tests of those suites a :data:`SERVER_ONLY` server runs: the
#: plugin's tests of Glance's API (the filter under that server); its
#: upload-to-image tests are Cinder's paths, run on uwsgi.
SERVER_TEMPEST_TESTS = {'eventlet': {'plugin': [
    'cinder_multistore.tempest.api.test_import_placement',
    'cinder_multistore.tempest.api.test_upload_placement',
    'cinder_multistore.tempest.api.test_rbd_colocation',
]}}
#: The functional tests a :data:`SERVER_ONLY` server runs.
SERVER_FUNCTIONAL_TESTS = (
    'tests/functional/test_colocation_limits.py',
    'tests/functional/test_faults.py',
    'tests/functional/test_glance_placement.py',
    'tests/functional/test_hostile_input.py',
    'tests/functional/test_load.py',
    'tests/functional/test_rbd_faults.py',
    'tests/functional/test_worker_crash.py',
)
#: Functional tests of the lab's own commands and of the documentation's
#: (the demo and the benchmark drive every upload path end to end): on the
#: newest release only, the other functional tests cover each release's
#: paths.
NEWEST_ONLY_FUNCTIONAL_TESTS = (
    'tests/functional/test_bench.py',
    'tests/functional/test_demo.py',
    'tests/functional/test_doc_commands.py',
)
#: Where the test command writes its results table (``summary.txt``) and
#: counts (``summary.json``), under the repository's top folder.
RESULTS_DIR = 'test-results'


@dataclasses.dataclass
class Counts:
    """The outcome of one suite."""

    suite: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    note: str = ''
    #: A timed step that runs no test (a stack start-up, a virtualenv).
    step: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed and, for a suite, a test passed."""
        return self.failed == 0 and (self.step or self.passed > 0)


def _pytest(suite: str, paths: list[str], env: dict | None = None,
            extra: list[str] | None = None) -> Counts:
    start = time.monotonic()
    with tempfile.NamedTemporaryFile(suffix='.xml', delete=False) as f:
        report = f.name
    cmd = [sys.executable, '-m', 'pytest', '-q', '-rs', '--junitxml',
           report] + (extra or []) + paths
    print('\n=== %s: %s' % (suite, ' '.join(cmd)), flush=True)
    rc = subprocess.call(cmd, env={**os.environ, **(env or {})})
    counts = Counts(suite, seconds=time.monotonic() - start)
    try:
        root = ET.parse(report).getroot()
    except (ET.ParseError, FileNotFoundError):
        counts.failed, counts.note = 1, 'pytest exited %d, no report' % rc
        return counts
    for suite_el in root.iter('testsuite'):
        total = int(suite_el.get('tests', 0))
        failed = (int(suite_el.get('failures', 0))
                  + int(suite_el.get('errors', 0)))
        skipped = int(suite_el.get('skipped', 0))
        counts.failed += failed
        counts.skipped += skipped
        counts.passed += total - failed - skipped
    os.unlink(report)
    if rc not in (0, 5) and counts.failed == 0:
        counts.failed, counts.note = 1, 'pytest exited %d' % rc
    return counts


def _pep8(suite: str) -> Counts:
    """Each house rule command counts as one test."""
    start = time.monotonic()
    counts = Counts(suite)
    bin_dir = os.path.dirname(sys.executable)
    for name, argv in PEP8_CHECKS:
        print('\n=== %s: %s' % (suite, ' '.join(argv)), flush=True)
        rc = subprocess.call([os.path.join(bin_dir, argv[0])] + argv[1:])
        if rc == 0:
            counts.passed += 1
        else:
            counts.failed += 1
            counts.note = '%s exited %d' % (name, rc)
    counts.seconds = time.monotonic() - start
    return counts


def skip_reasons(output: str) -> collections.Counter:
    """How many tests of a tempest run skipped for each reason."""
    return collections.Counter(
        match.group(1).strip()
        for match in re.finditer(r'\.\.\. SKIPPED: (.*)', output))


def _tempest(suite: str, stack_dir: str, test_ids: list[str],
             conf: Path | None = None,
             exclude: dict[str, str] | None = None) -> Counts:
    """Run tempest ``test_ids``, leaving out ``tempest_run.EXCLUDED`` and
    ``exclude`` (test id -> why).
    """
    from cinder_multistore_lab.stack import tempest_run
    start = time.monotonic()
    print('\n=== %s: %s' % (suite, ' '.join(test_ids)), flush=True)
    left_out = dict(tempest_run.EXCLUDED, **(exclude or {}))
    excluded = [t for t in left_out
                if any(t.startswith(i) for i in test_ids)]
    for test in excluded:
        print('left out: %s: %s' % (test, left_out[test]))
    result = tempest_run.run_tests(stack_dir, test_ids, conf=conf,
                                   exclude=left_out)
    print(result.output[-20000:], flush=True)
    reasons = skip_reasons(result.output)
    if reasons:
        print('skipped, by reason:')
        for reason, count in reasons.most_common():
            print('  %4d  %s' % (count, reason))
    return Counts(suite, result.passed, result.failed, result.skipped,
                  time.monotonic() - start)


def summary_lines(results: list[Counts], wall: float | None = None
                  ) -> tuple[list[str], bool]:
    """The results table, a total line and whether everything passed.

    Steps (stack start-ups, virtualenvs) have their time and no counts.
    """
    lines = ['%-44s %7s %7s %7s %8s' % ('suite', 'passed', 'failed',
                                        'skipped', 'seconds')]
    for r in results:
        if r.step:
            lines.append('%-44s %7s %7s %7s %8.1f %s' % (
                r.suite, '', 'failed' if r.failed else '', '', r.seconds,
                r.note))
            continue
        lines.append('%-44s %7d %7d %7d %8.1f %s' % (
            r.suite, r.passed, r.failed, r.skipped, r.seconds, r.note))
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    ok = all(r.ok for r in results) and passed > 0
    total = '%d passed, %d failed, %d skipped' % (passed, failed, skipped)
    if wall is not None:
        total += ' in %.1f s (%.1f min)' % (wall, wall / 60)
    lines.append(total)
    return lines, ok


def _summary(results: list[Counts], wall: float | None = None) -> bool:
    lines, ok = summary_lines(results, wall)
    print('\n' + '\n'.join(lines), flush=True)
    return ok


def write_results(folder: Path, results: list[Counts], wall: float,
                  argv: list[str]) -> None:
    """``summary.txt`` (the table) and ``summary.json`` in ``folder``."""
    lines, ok = summary_lines(results, wall)
    folder.mkdir(parents=True, exist_ok=True)
    finished = time.strftime('%Y-%m-%d %H:%M:%S %Z')
    header = '%s, finished %s' % (' '.join(['bash tools/test.sh'] + argv),
                                  finished)
    (folder / 'summary.txt').write_text('\n'.join([header] + lines) + '\n')
    (folder / 'summary.json').write_text(json.dumps({
        'argv': argv, 'finished': finished, 'seconds': round(wall, 1),
        'ok': ok, 'suites': [dataclasses.asdict(r) for r in results]},
        indent=1) + '\n')


class _StackStart:
    """A stack starting in a background thread while other work runs."""

    def __init__(self, label: str, server: str,
                 directory: str | None = None) -> None:
        self.label = label
        self.server = server
        self.directory = directory or tempfile.mkdtemp(prefix='cms-stack-')
        self.stopped = False
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._up, daemon=True,
                                        name='stack-%s' % label)
        print('\n=== %s: starting the embedded cloud in %s (in the '
              'background)' % (label, self.directory), flush=True)
        self._thread.start()

    def _up(self) -> None:
        from cinder_multistore_lab import stack
        started = time.monotonic()
        try:
            stack.up(self.directory, with_cinder=True,
                     glance_server=self.server)
        except BaseException as exc:  # reported by wait()
            self.error = exc
        self.seconds = time.monotonic() - started

    def wait(self) -> Counts:
        """Wait for the start-up; its timed step (failed when it failed)."""
        waited = time.monotonic()
        self._thread.join()
        print('=== %s: stack up in %.1f s (waited %.1f s for it)'
              % (self.label, self.seconds, time.monotonic() - waited),
              flush=True)
        step = Counts('%s stack up' % self.label, seconds=self.seconds,
                      step=True)
        if self.error is not None:
            step.failed, step.note = 1, str(self.error)[:200]
        return step

    def down(self, keep: bool) -> None:
        """Stop the stack (unless ``keep``); wait for a start first."""
        from cinder_multistore_lab import stack
        self._thread.join()
        if self.stopped:
            return
        self.stopped = True
        if keep:
            print('left running: %s' % self.directory)
            return
        try:
            stack.down(self.directory)
        except Exception as exc:
            print('stack down failed in %s: %s' % (self.directory, exc),
                  flush=True)


def _stack_suites(label: str, server: str, suites: tuple[str, ...],
                  stack_dir: str, next_start: Callable[[], None],
                  newest: bool = True,
                  hold: Callable[[], None] | None = None) -> list[Counts]:
    """Run ``suites`` on a started stack.

    ``next_start`` is called once the functional tests of the product are
    done (they measure the workers' threads and memory, and time stalled
    stores): the next stack (or release) starts while the lab's commands
    and tempest run here.

    :param hold: called before the functional tests of a stack that runs
        every suite (it returns when they may start); the tempest suites
        run first, while they wait.
    """
    results = []
    env = {'CMS_STACK_DIR': stack_dir}
    # NOTE: the slowest tests are printed: where CI time goes.
    durations = ['--durations=25']
    if server in SERVER_ONLY:
        hold = None
    if hold is not None:
        print('\n%s: tempest first, while the functional tests wait'
              % label, flush=True)
        results.extend(_tempest_suites(label, server, suites, stack_dir))
        hold()
    if 'functional' in suites:
        paths = ['tests/functional']
        extra = ['--ignore=%s' % p for p in NEWEST_ONLY_FUNCTIONAL_TESTS]
        if server in SERVER_ONLY:
            paths, extra = list(SERVER_FUNCTIONAL_TESTS), []
            print('\n%s: functional tests whose code path differs by Glance '
                  'server only (%s); the others ran on uwsgi'
                  % (label, ', '.join(paths)), flush=True)
        elif not newest:
            print('\n%s: left out, run on the newest release only: %s'
                  % (label, ', '.join(NEWEST_ONLY_FUNCTIONAL_TESTS)),
                  flush=True)
        results.append(_pytest('%s functional' % label, paths, env,
                               extra + durations))
    next_start()
    if 'functional' in suites and newest and server not in SERVER_ONLY:
        results.append(_pytest('%s functional (lab commands)' % label,
                               list(NEWEST_ONLY_FUNCTIONAL_TESTS), env,
                               durations))
    if hold is None:
        results.extend(_tempest_suites(label, server, suites, stack_dir))
    return results


def _tempest_suites(label: str, server: str, suites: tuple[str, ...],
                    stack_dir: str) -> list[Counts]:
    """The tempest suites of ``suites`` that ``server`` runs."""
    from cinder_multistore_lab.stack import tempest_run
    results = []
    tempest_suites = [
        ('tempest-image', 'tempest upstream image', UPSTREAM_IMAGE_TESTS),
        ('volume-api', 'tempest upstream volume API',
         tempest_run.UPSTREAM_VOLUME_API_TESTS),
        ('plugin', 'tempest plugin', PLUGIN_TESTS),
        ('peers', 'tempest peers', tempest_run.PEER_TESTS),
    ]
    for key, name, test_ids in tempest_suites:
        if key not in suites:
            continue
        if server in SERVER_ONLY and key not in SERVER_ONLY[server]:
            print('\n%s: %s left out (Glance\'s own code paths, the same '
                  'under every server; run on uwsgi)' % (label, name),
                  flush=True)
            continue
        test_ids = SERVER_TEMPEST_TESTS.get(server, {}).get(key, test_ids)
        if key == 'peers':
            with tempest_run.peers_cloud(stack_dir) as conf:
                results.append(_tempest('%s %s' % (label, name), stack_dir,
                                        test_ids, conf))
            continue
        if key == 'plugin':
            # NOTE: the site rule is cinder-volume's: the same under every
            # Glance server.
            results.extend(_plugin_suites('%s %s' % (label, name),
                                          stack_dir, test_ids,
                                          site_rule=server not in SERVER_ONLY))
            continue
        results.append(_tempest('%s %s' % (label, name), stack_dir,
                                test_ids))
    return results


def _plugin_suites(suite: str, stack_dir: str, test_ids: list[str],
                   site_rule: bool = True) -> list[Counts]:
    """The plugin's tests; those of the site rule on their own, with
    cinder-volume's ``site_store`` on for them (when ``site_rule``).
    """
    from cinder_multistore_lab.stack import tempest_run
    site = dict.fromkeys(tempest_run.SITE_STORE_TESTS,
                         'run on their own, with site_store on')
    results = [_tempest(suite, stack_dir, test_ids, exclude=site)]
    if not site_rule:
        print('\n%s: the site rule\'s tests left out (cinder-volume\'s '
              'rule, the same under every Glance server)' % suite,
              flush=True)
        return results
    with tempest_run.site_store_cloud(stack_dir) as conf:
        if conf is not None:
            results.append(_tempest('%s (site_store on)' % suite, stack_dir,
                                    tempest_run.SITE_STORE_TESTS, conf))
    return results


def run_release(name: str, servers: tuple[str, ...],
                suites: tuple[str, ...], keep: bool = False,
                after_functional: Callable[[], None] | None = None,
                hold: Callable[[], None] | None = None) -> list[Counts]:
    """The suites of release ``name``, which this virtualenv must run.

    The first stack starts in the background while the house rules and
    the unit tests run; each next one while the lab's commands and tempest
    run on the previous.

    :param after_functional: called once, when the product's functional
        tests of the last stack are done (the older releases' functional
        tests start then).
    :param hold: called before the functional tests of each stack that
        runs every suite (see :func:`_stack_suites`).
    """
    from cinder_multistore_lab.stack import releases
    here = releases.installed()
    if here is None or here.name != name:
        raise SystemExit('this virtualenv runs release %s, not %s'
                         % (here.name if here else 'none', name))
    results = []
    on_stack = any(s not in ('pep8', 'unit') for s in suites)
    labels = ['%s %s' % (name, server) for server in servers]
    starts: list[_StackStart] = []

    def start(index: int) -> None:
        if index == len(servers) and after_functional is not None:
            after_functional()
        if on_stack and index < len(servers) and len(starts) == index:
            # NOTE: a given CMS_STACK_DIR serves the first stack only: the
            # next one starts while the first still runs.
            given = os.environ.get('CMS_STACK_DIR') if index == 0 else None
            starts.append(_StackStart(labels[index], servers[index], given))

    start(0)
    try:
        if 'pep8' in suites:
            results.append(_pep8('%s pep8' % name))
        if 'unit' in suites:
            results.append(_pytest('%s unit' % name, UNIT_TESTS))
        for index, server in enumerate(servers if on_stack else ()):
            start(index)
            step = starts[index].wait()
            results.append(step)
            if step.failed:
                print('stack failed: %s' % step.note, flush=True)
            else:
                try:
                    results.extend(_stack_suites(
                        labels[index], server, suites,
                        starts[index].directory,
                        lambda i=index: start(i + 1),
                        newest=name == releases.NEWEST, hold=hold))
                except Exception as exc:
                    print('suites failed: %s' % exc, flush=True)
                    results.append(Counts('%s embedded cloud'
                                          % labels[index], failed=1,
                                          note=str(exc)[:200]))
            starts[index].down(keep)
    finally:
        for pending in starts:
            pending.down(keep)
    return results


class _VenvBuild:
    """A release's virtualenv built in the background (``setup.sh``)."""

    def __init__(self, name: str) -> None:
        from cinder_multistore_lab.stack import releases
        self.name = name
        self.started = time.monotonic()
        self.log = Path(tempfile.mkstemp(prefix='cms-venv-%s-' % name,
                                         suffix='.log')[1])
        print('\n=== release %s: building its virtualenv in the background '
              '(log: %s)' % (name, self.log), flush=True)
        with open(self.log, 'wb') as out:
            self._proc = subprocess.Popen(
                ['bash', str(releases.TOP / 'tools' / 'setup.sh'),
                 '--release', name], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def wait(self) -> Counts:
        """Wait for the build; its timed step."""
        rc = self._proc.wait()
        step = Counts('%s virtualenv' % self.name, step=True,
                      seconds=time.monotonic() - self.started)
        if rc != 0:
            step.failed = 1
            step.note = 'setup.sh exited %d: %s' % (
                rc, self.log.read_text(errors='replace')[-300:])
        return step


class _ElsewhereRun:
    """A release's suites run by :func:`run_elsewhere` in a thread.

    Its output goes to a log file, printed whole by :meth:`wait`, so that
    it does not interleave with the suites running here meanwhile.
    """

    def __init__(self, name: str, servers: tuple[str, ...],
                 suites: tuple[str, ...], build: _VenvBuild,
                 hold: Path | None = None) -> None:
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix='cms-run-%s-' % name,
                                         suffix='.log')[1])
        self.results: list[Counts] = []
        self._args = (name, servers, suites, build)
        self._hold = hold
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the release's suites now (once)."""
        if self._thread is not None:
            return
        print('\n=== release %s: its suites start now, beside the ones '
              'running here (output: %s)' % (self.name, self.log),
              flush=True)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='release-%s' % self.name)
        self._thread.start()

    def _run(self) -> None:
        with open(self.log, 'w') as out:
            try:
                self.results = run_elsewhere(*self._args, output=out,
                                             hold=self._hold)
            except Exception as exc:
                self.results = [Counts('%s run' % self.name, failed=1,
                                       note=str(exc)[:200])]

    def wait(self) -> list[Counts]:
        """Start if not started, wait, print the output; the counts."""
        self.start()
        assert self._thread is not None
        self._thread.join()
        print('\n=== release %s: output' % self.name, flush=True)
        sys.stdout.write(self.log.read_text(errors='replace'))
        sys.stdout.flush()
        return self.results


def run_elsewhere(name: str, servers: tuple[str, ...],
                  suites: tuple[str, ...],
                  build: _VenvBuild | None = None,
                  output: TextIO | None = None,
                  hold: Path | None = None) -> list[Counts]:
    """Run release ``name``'s suites in its own virtualenv; their counts.

    :param build: the virtualenv's build, already started; else it is
        built (or found up to date) now.
    :param output: where the run's output goes (default: stdout).
    :param hold: the functional tests of its stacks that run every suite
        wait until this file exists (``--hold-functional``).
    """
    from cinder_multistore_lab.stack import releases
    build = build or _VenvBuild(name)
    step = build.wait()
    out = output or sys.stdout
    print('\n=== release %s: virtualenv ready in %.1f s'
          % (name, step.seconds), file=out, flush=True)
    if step.failed:
        return [step]
    venv = releases.venv_dir(name)
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
        report = f.name
    cmd = [str(venv / 'bin' / 'python'), '-m', 'cinder_multistore_lab.testrun',
           '--release', name, '--suites', ','.join(suites),
           '--report', report]
    for server in servers:
        cmd += ['--glance-server', server]
    if hold is not None:
        cmd += ['--hold-functional', str(hold)]
    rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        with open(report) as f:
            results = [Counts(**item) for item in json.load(f)]
    except (OSError, ValueError, TypeError):
        results = []
    finally:
        os.unlink(report)
    if rc != 0 and not any(r.failed for r in results):
        results.append(Counts('%s run' % name, failed=1,
                              note='exited %d' % rc))
    return [step] + results


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from cinder_multistore_lab.stack import releases
    parser = argparse.ArgumentParser(prog='cinder-multistore-tests')
    parser.add_argument('--unit-only', action='store_true',
                        help='run only the unit tests (no cloud)')
    parser.add_argument('--keep', action='store_true',
                        help='leave the stack running afterwards')
    parser.add_argument('--release', choices=releases.NAMES,
                        help='run this release only (in its virtualenv); '
                        'default: the newest, then the matrix of older '
                        'releases CI tests')
    parser.add_argument('--glance-server', action='append',
                        choices=releases.GLANCE_SERVERS,
                        help='with --release: the Glance server(s) to test '
                        '(default: every one the release has)')
    parser.add_argument('--suites', default=None,
                        help='comma-separated, from: %s' % ', '.join(SUITES))
    parser.add_argument('--report', help='also write the counts as JSON')
    parser.add_argument('--hold-functional', metavar='PATH', type=Path,
                        help='the functional tests of the stacks that run '
                        'every suite wait until PATH exists (the test '
                        'command runs an older release this way beside '
                        'the newest one)')
    args = parser.parse_args(argv)
    if args.suites is not None:
        args.suites = tuple(s for s in args.suites.split(',') if s)
        unknown = set(args.suites) - set(SUITES)
        if unknown or not args.suites:
            parser.error('unknown suite(s): %s' % ', '.join(sorted(unknown))
                         if unknown else 'no suite given')
    if (args.glance_server or args.hold_functional) and not args.release:
        parser.error('--glance-server and --hold-functional need '
                     '--release')
    return args


def wait_for_file(path: Path, poll: float = 2.0) -> None:
    """Return once ``path`` exists (saying so when it has to wait)."""
    if path.exists():
        return
    print('\n=== waiting for %s before the functional tests' % path,
          flush=True)
    started = time.monotonic()
    while not path.exists():
        time.sleep(poll)
    print('=== waited %.1f s' % (time.monotonic() - started), flush=True)


def _run_matrix(suites: tuple[str, ...], keep: bool) -> list[Counts]:
    """The newest release's ``suites`` here, each release of
    :data:`MATRIX` beside them in its own virtualenv.

    The older releases' virtualenvs build and their runs start at once:
    their unit tests and eventlet suites run beside the newest release's
    functional tests; the functional tests of their uwsgi stacks wait until
    those are done (two at once would each take the other's time; the
    newest release's lab commands and tempest suites, lighter, run beside
    them).
    """
    from cinder_multistore_lab.stack import releases
    hold = Path(tempfile.mkdtemp(prefix='cms-hold-')) / 'functional-done'
    others = [_ElsewhereRun(name, servers, RELEASE_SUITES,
                            _VenvBuild(name), hold=hold)
              for name, servers in MATRIX]
    for other in others:
        other.start()
    try:
        results = run_release(releases.NEWEST, ('uwsgi',), suites, keep,
                              after_functional=hold.touch)
    finally:
        # NOTE: also when the newest release's run failed early.
        hold.touch()
    for other in others:
        results += other.wait()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the suites; 0 when all passed."""
    from cinder_multistore_lab.stack import releases
    started = time.monotonic()
    args = _parse(argv)
    if args.unit_only:
        results = [_pytest('unit', UNIT_TESTS)]
    elif args.release:
        release = releases.get(args.release)
        servers = tuple(args.glance_server or release.glance_servers)
        for server in servers:
            releases.check_server(release, server)
        suites = args.suites or (SUITES if release.name == releases.NEWEST
                                 else RELEASE_SUITES)
        here = releases.installed()
        hold_file = args.hold_functional
        if here is not None and here.name == release.name:
            hold = None if hold_file is None else functools.partial(
                wait_for_file, hold_file)
            results = run_release(release.name, servers, suites, args.keep,
                                  hold=hold)
        else:
            results = run_elsewhere(release.name, servers, suites,
                                    hold=hold_file)
    else:
        results = _run_matrix(args.suites or SUITES, args.keep)
    wall = time.monotonic() - started
    if args.report:
        with open(args.report, 'w') as f:
            json.dump([dataclasses.asdict(r) for r in results], f)
    else:
        write_results(Path(RESULTS_DIR), results, wall,
                      list(sys.argv[1:] if argv is None else argv))
    return 0 if _summary(results, wall) else 1


if __name__ == '__main__':
    sys.exit(main())
