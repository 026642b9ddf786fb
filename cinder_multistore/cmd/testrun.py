"""The project's test command: every suite, on a fresh embedded cloud.

Runs, in order: the unit tests; then, on a stack started for this run, the
functional tests, upstream tempest's image (and volume action) tests and
this project's tempest plugin. Prints the pass/fail/skip counts of each
suite and a total line, and exits non-zero when anything failed or a suite
ran no test. The stack is stopped at the end whatever happened.
"""

import argparse
import dataclasses
import os
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
UPSTREAM_VOLUME_TESTS = ['tempest.api.volume.test_volumes_actions']
PLUGIN_TESTS = ['cinder_multistore.tempest']


@dataclasses.dataclass
class Counts:
    """The outcome of one suite."""

    suite: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    note: str = ''

    only_skips_allowed: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed and at least one test ran.

        A suite whose tests all skip (printed with their reasons) counts
        only when allowed, e.g. upstream tests that need Nova or Neutron.
        """
        if self.failed:
            return False
        return self.passed > 0 or (self.only_skips_allowed
                                   and self.skipped > 0)


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


def _tempest(suite: str, stack_dir: str, test_ids: list[str],
             only_skips_allowed: bool = False) -> Counts:
    from cinder_multistore.stack import tempest_run
    start = time.monotonic()
    print('\n=== %s: %s' % (suite, ' '.join(test_ids)), flush=True)
    result = tempest_run.run_tests(stack_dir, test_ids)
    print(result.output[-20000:], flush=True)
    return Counts(suite, result.passed, result.failed, result.skipped,
                  time.monotonic() - start,
                  only_skips_allowed=only_skips_allowed)


def _summary(results: list[Counts]) -> bool:
    print('\n%-34s %7s %7s %7s %8s' % ('suite', 'passed', 'failed',
                                       'skipped', 'seconds'))
    for r in results:
        print('%-34s %7d %7d %7d %8.1f %s' % (r.suite, r.passed, r.failed,
                                              r.skipped, r.seconds, r.note))
    total = Counts('total',
                   sum(r.passed for r in results),
                   sum(r.failed for r in results),
                   sum(r.skipped for r in results))
    ok = all(r.ok for r in results) and total.passed > 0
    print('%d passed, %d failed, %d skipped'
          % (total.passed, total.failed, total.skipped))
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the suites; 0 when all passed."""
    parser = argparse.ArgumentParser(prog='cinder-multistore-tests')
    parser.add_argument('--unit-only', action='store_true',
                        help='run only the unit tests (no cloud)')
    parser.add_argument('--keep', action='store_true',
                        help='leave the stack running afterwards')
    args = parser.parse_args(argv)

    results = [_pytest('unit', ['tests/unit'])]
    if args.unit_only:
        return 0 if _summary(results) else 1

    from cinder_multistore import stack
    stack_dir = os.environ.get('CMS_STACK_DIR') or tempfile.mkdtemp(
        prefix='cms-stack-')
    started = time.monotonic()
    try:
        print('\n=== starting the embedded cloud in %s' % stack_dir,
              flush=True)
        stack.up(stack_dir, with_cinder=True)
        print('stack up in %.1f s' % (time.monotonic() - started))
        env = {'CMS_STACK_DIR': stack_dir}
        results.append(_pytest('functional', ['tests/functional'], env))
        results.append(_tempest('tempest upstream image', stack_dir,
                                UPSTREAM_IMAGE_TESTS))
        results.append(_tempest('tempest upstream volume actions',
                                stack_dir, UPSTREAM_VOLUME_TESTS,
                                only_skips_allowed=True))
        results.append(_tempest('tempest cinder_multistore plugin',
                                stack_dir, PLUGIN_TESTS))
    except Exception as exc:
        print('stack failed: %s' % exc, flush=True)
        results.append(Counts('embedded cloud', failed=1, note=str(exc)))
    finally:
        if not args.keep:
            stack.down(stack_dir)
    return 0 if _summary(results) else 1


if __name__ == '__main__':
    sys.exit(main())
