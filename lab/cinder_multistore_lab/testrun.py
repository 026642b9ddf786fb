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
  plugin.

``--release R`` runs that one release the same way (every Glance server it
has, or ``--glance-server``). Prints the pass/fail/skip counts of each suite
and a total line, and exits non-zero when anything failed or a suite ran no
test. Each stack is stopped at the end whatever happened.
"""

import argparse
import collections
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET


UPSTREAM_IMAGE_TESTS = [
    'tempest.api.image.v2.test_images',
    'tempest.api.image.v2.test_images_negative',
    'tempest.api.image.v2.admin.test_images',
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
          'plugin')
#: What a release of the matrix runs (the newest runs every suite).
RELEASE_SUITES = ('unit', 'functional', 'tempest-image', 'plugin')
#: Older releases CI runs besides the newest, with their Glance servers.
MATRIX = (('2025.1', ('uwsgi', 'eventlet')),)


@dataclasses.dataclass
class Counts:
    """The outcome of one suite."""

    suite: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    note: str = ''

    @property
    def ok(self) -> bool:
        """True when nothing failed and at least one test passed."""
        return self.failed == 0 and self.passed > 0


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


def _tempest(suite: str, stack_dir: str, test_ids: list[str]) -> Counts:
    from cinder_multistore_lab.stack import tempest_run
    start = time.monotonic()
    print('\n=== %s: %s' % (suite, ' '.join(test_ids)), flush=True)
    excluded = [t for t in tempest_run.EXCLUDED
                if any(t.startswith(i) for i in test_ids)]
    for test in excluded:
        print('left out: %s: %s' % (test, tempest_run.EXCLUDED[test]))
    result = tempest_run.run_tests(stack_dir, test_ids)
    print(result.output[-20000:], flush=True)
    reasons = skip_reasons(result.output)
    if reasons:
        print('skipped, by reason:')
        for reason, count in reasons.most_common():
            print('  %4d  %s' % (count, reason))
    return Counts(suite, result.passed, result.failed, result.skipped,
                  time.monotonic() - start)


def _summary(results: list[Counts]) -> bool:
    print('\n%-44s %7s %7s %7s %8s' % ('suite', 'passed', 'failed',
                                       'skipped', 'seconds'))
    for r in results:
        print('%-44s %7d %7d %7d %8.1f %s' % (r.suite, r.passed, r.failed,
                                              r.skipped, r.seconds, r.note))
    total = Counts('total',
                   sum(r.passed for r in results),
                   sum(r.failed for r in results),
                   sum(r.skipped for r in results))
    ok = all(r.ok for r in results) and total.passed > 0
    print('%d passed, %d failed, %d skipped'
          % (total.passed, total.failed, total.skipped))
    return ok


def _on_stack(label: str, server: str, suites: tuple[str, ...],
              keep: bool) -> list[Counts]:
    """Start a stack of this virtualenv's release, run ``suites`` on it."""
    from cinder_multistore_lab import stack
    results = []
    stack_dir = os.environ.get('CMS_STACK_DIR') or tempfile.mkdtemp(
        prefix='cms-stack-')
    started = time.monotonic()
    try:
        print('\n=== %s: starting the embedded cloud in %s'
              % (label, stack_dir), flush=True)
        stack.up(stack_dir, with_cinder=True, glance_server=server)
        print('stack up in %.1f s' % (time.monotonic() - started))
        env = {'CMS_STACK_DIR': stack_dir}
        if 'functional' in suites:
            results.append(_pytest('%s functional' % label,
                                   ['tests/functional'], env))
        if 'tempest-image' in suites:
            results.append(_tempest('%s tempest upstream image' % label,
                                    stack_dir, UPSTREAM_IMAGE_TESTS))
        if 'volume-api' in suites:
            from cinder_multistore_lab.stack import tempest_run
            results.append(_tempest('%s tempest upstream volume API' % label,
                                    stack_dir,
                                    tempest_run.UPSTREAM_VOLUME_API_TESTS))
        if 'plugin' in suites:
            results.append(_tempest('%s tempest plugin' % label,
                                    stack_dir, PLUGIN_TESTS))
    except Exception as exc:
        print('stack failed: %s' % exc, flush=True)
        results.append(Counts('%s embedded cloud' % label, failed=1,
                              note=str(exc)[:200]))
    finally:
        if not keep:
            stack.down(stack_dir)
    return results


def run_release(name: str, servers: tuple[str, ...],
                suites: tuple[str, ...], keep: bool = False
                ) -> list[Counts]:
    """The suites of release ``name``, which this virtualenv must run."""
    from cinder_multistore_lab.stack import releases
    here = releases.installed()
    if here is None or here.name != name:
        raise SystemExit('this virtualenv runs release %s, not %s'
                         % (here.name if here else 'none', name))
    results = []
    if 'pep8' in suites:
        results.append(_pep8('%s pep8' % name))
    if 'unit' in suites:
        results.append(_pytest('%s unit' % name, UNIT_TESTS))
    for server in servers:
        results.extend(_on_stack('%s %s' % (name, server), server, suites,
                                 keep))
    return results


def run_elsewhere(name: str, servers: tuple[str, ...],
                  suites: tuple[str, ...]) -> list[Counts]:
    """Run release ``name``'s suites in its own virtualenv; their counts."""
    from cinder_multistore_lab.stack import releases
    start = time.monotonic()
    try:
        venv = releases.ensure_venv(name)
    except Exception as exc:
        return [Counts('%s virtualenv' % name, failed=1,
                       seconds=time.monotonic() - start,
                       note=str(exc)[:200])]
    print('\n=== release %s: virtualenv %s ready in %.1f s'
          % (name, venv, time.monotonic() - start), flush=True)
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
        report = f.name
    cmd = [str(venv / 'bin' / 'python'), '-m', 'cinder_multistore_lab.testrun',
           '--release', name, '--suites', ','.join(suites),
           '--report', report]
    for server in servers:
        cmd += ['--glance-server', server]
    rc = subprocess.call(cmd)
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
    return results


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
    args = parser.parse_args(argv)
    if args.suites is not None:
        args.suites = tuple(s for s in args.suites.split(',') if s)
        unknown = set(args.suites) - set(SUITES)
        if unknown or not args.suites:
            parser.error('unknown suite(s): %s' % ', '.join(sorted(unknown))
                         if unknown else 'no suite given')
    if args.glance_server and not args.release:
        parser.error('--glance-server needs --release')
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the suites; 0 when all passed."""
    from cinder_multistore_lab.stack import releases
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
        if here is not None and here.name == release.name:
            results = run_release(release.name, servers, suites, args.keep)
        else:
            results = run_elsewhere(release.name, servers, suites)
    else:
        suites = args.suites or SUITES
        results = run_release(releases.NEWEST, ('uwsgi',), suites,
                              args.keep)
        for name, servers in MATRIX:
            results += run_elsewhere(name, servers, RELEASE_SUITES)
    if args.report:
        with open(args.report, 'w') as f:
            json.dump([dataclasses.asdict(r) for r in results], f)
    return 0 if _summary(results) else 1


if __name__ == '__main__':
    sys.exit(main())
