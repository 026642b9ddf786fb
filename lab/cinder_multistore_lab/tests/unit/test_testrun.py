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

"""The test command's house-rules suite counts each check as one test."""

import contextlib
from pathlib import Path
import re
import threading

import pytest

from cinder_multistore_lab import testrun


def test_pep8_counts_each_check(monkeypatch, capsys):
    monkeypatch.setattr(testrun, 'PEP8_CHECKS', (
        ('passes', ['python', '-c', 'pass']),
        ('fails', ['python', '-c', 'raise SystemExit(3)']),
        ('passes too', ['python', '-c', 'pass']),
    ))
    counts = testrun._pep8('pep8')
    assert (counts.passed, counts.failed, counts.skipped) == (2, 1, 0)
    assert counts.note == 'fails exited 3'
    assert not counts.ok
    assert '=== pep8: python -c pass' in capsys.readouterr().out


def test_pep8_runs_first_and_only_on_the_newest_release():
    assert testrun.SUITES[0] == 'pep8'
    assert 'pep8' not in testrun.RELEASE_SUITES


def test_pep8_checks_match_tox():
    import configparser
    import pathlib
    tox = configparser.ConfigParser()
    tox.read(pathlib.Path(testrun.__file__).resolve().parents[2] / 'tox.ini')
    commands = [line.strip() for line in
                tox['testenv:pep8']['commands'].splitlines() if line.strip()]
    assert commands == [' '.join(argv) for _, argv in testrun.PEP8_CHECKS]


def test_steps_have_a_time_and_no_counts():
    results = [testrun.Counts('r uwsgi stack up', seconds=41.5, step=True),
               testrun.Counts('r unit', passed=3, seconds=2.0)]
    lines, ok = testrun.summary_lines(results, wall=125.0)
    assert ok
    assert lines[1].split() == ['r', 'uwsgi', 'stack', 'up', '41.5']
    assert lines[-1] == '3 passed, 0 failed, 0 skipped in 125.0 s (2.1 min)'


def test_a_failed_step_fails_the_run():
    results = [testrun.Counts('r uwsgi stack up', failed=1, step=True,
                              note='boom'),
               testrun.Counts('r unit', passed=3)]
    lines, ok = testrun.summary_lines(results)
    assert not ok
    assert 'failed' in lines[1] and 'boom' in lines[1]


def test_results_are_written_as_table_and_json(tmp_path):
    import json
    results = [testrun.Counts('r unit', passed=3, skipped=1, seconds=2.0)]
    testrun.write_results(tmp_path / 'out', results, 60.0, ['--x'])
    text = (tmp_path / 'out' / 'summary.txt').read_text()
    assert text.startswith('bash tools/test.sh --x, finished ')
    assert '3 passed, 0 failed, 1 skipped in 60.0 s' in text
    data = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert data['ok'] and data['seconds'] == 60.0
    assert data['suites'][0]['passed'] == 3
    testrun.write_results(tmp_path / 'out', results, 60.0, [])
    assert (tmp_path / 'out' / 'summary.txt').read_text().startswith(
        'bash tools/test.sh, finished ')


class _Recorder:
    """Fakes of the suites and stacks that record the order of events."""

    def __init__(self, monkeypatch):
        self.events = []
        self.extras = {}
        recorder = self

        class FakeStart:
            def __init__(self, label, server, directory=None):
                self.directory = '/tmp/fake-%s' % server
                recorder.events.append('start %s' % label)

            def wait(self):
                recorder.events.append('wait')
                return testrun.Counts('up', seconds=1.0, step=True)

            def down(self, keep):
                if ('down %s' % self.directory) not in recorder.events:
                    recorder.events.append('down %s' % self.directory)

        def pytest(suite, paths, env=None, extra=None):
            recorder.events.append('pytest %s %s' % (suite, ' '.join(paths)))
            recorder.extras[suite] = extra or []
            return testrun.Counts(suite, passed=1)

        def tempest(suite, stack_dir, test_ids, conf=None, exclude=None):
            recorder.events.append('tempest %s' % suite)
            recorder.extras[suite] = (test_ids, conf, exclude)
            return testrun.Counts(suite, passed=1)

        from cinder_multistore_lab.stack import releases
        monkeypatch.setattr(testrun, '_StackStart', FakeStart)
        monkeypatch.setattr(testrun, '_pytest', pytest)
        monkeypatch.setattr(testrun, '_tempest', tempest)
        monkeypatch.setattr(testrun, '_pep8',
                            lambda suite: testrun.Counts(suite, passed=3))
        monkeypatch.setattr(releases, 'installed',
                            lambda: releases.get('2025.1'))


def test_the_next_stack_starts_once_the_functional_tests_are_done(
        monkeypatch):
    rec = _Recorder(monkeypatch)
    results = testrun.run_release('2025.1', ('uwsgi', 'eventlet'),
                                  testrun.RELEASE_SUITES)
    events = rec.events
    # The first stack starts before the unit tests run.
    assert events[0] == 'start 2025.1 uwsgi'
    assert events[1] == 'pytest 2025.1 unit tests/unit ' \
        'lab/cinder_multistore_lab/tests/unit'
    functional = events.index(
        'pytest 2025.1 uwsgi functional tests/functional')
    second = events.index('start 2025.1 eventlet')
    first_tempest = events.index('tempest 2025.1 uwsgi tempest upstream image')
    assert functional < second < first_tempest
    assert all(r.ok for r in results)
    assert events.count('down /tmp/fake-uwsgi') == 1
    assert events.count('down /tmp/fake-eventlet') == 1


def test_eventlet_runs_only_the_server_dependent_suites(monkeypatch):
    rec = _Recorder(monkeypatch)
    testrun.run_release('2025.1', ('eventlet',), testrun.RELEASE_SUITES)
    functional = [e for e in rec.events if e.startswith('pytest 2025.1 '
                                                        'eventlet')]
    assert functional == ["pytest 2025.1 eventlet functional "
                          + ' '.join(testrun.SERVER_FUNCTIONAL_TESTS)]
    tempest = [e for e in rec.events if e.startswith('tempest')]
    assert tempest == ['tempest 2025.1 eventlet tempest plugin']
    assert rec.extras['2025.1 eventlet tempest plugin'][0] == (
        testrun.SERVER_TEMPEST_TESTS['eventlet']['plugin'])


def test_server_functional_tests_exist():
    import pathlib
    top = pathlib.Path(testrun.__file__).resolve().parents[2]
    for path in testrun.SERVER_FUNCTIONAL_TESTS:
        assert (top / path).is_file(), path


def test_the_lab_commands_tests_run_on_the_newest_release_only(monkeypatch):
    rec = _Recorder(monkeypatch)
    testrun.run_release('2025.1', ('uwsgi',), testrun.RELEASE_SUITES)
    # The slowest tests are printed in every run.
    assert rec.extras['2025.1 uwsgi functional'] == [
        '--ignore=%s' % p for p in testrun.NEWEST_ONLY_FUNCTIONAL_TESTS] + [
        '--durations=25']
    from cinder_multistore_lab.stack import releases
    monkeypatch.setattr(releases, 'installed',
                        lambda: releases.get(releases.NEWEST))
    testrun.run_release(releases.NEWEST, ('uwsgi',), ('functional',))
    # The newest release runs them on their own, after the product's.
    assert rec.extras['%s uwsgi functional' % releases.NEWEST] == [
        '--ignore=%s' % p for p in testrun.NEWEST_ONLY_FUNCTIONAL_TESTS] + [
        '--durations=25']
    lab = '%s uwsgi functional (lab commands)' % releases.NEWEST
    assert rec.events[-1] == 'pytest %s %s' % (
        lab, ' '.join(testrun.NEWEST_ONLY_FUNCTIONAL_TESTS))
    assert rec.extras[lab] == ['--durations=25']


def test_older_releases_start_once_the_functional_tests_are_done(
        monkeypatch):
    rec = _Recorder(monkeypatch)
    from cinder_multistore_lab.stack import releases
    monkeypatch.setattr(releases, 'installed',
                        lambda: releases.get(releases.NEWEST))
    testrun.run_release(releases.NEWEST, ('uwsgi',), testrun.SUITES,
                        after_functional=lambda: rec.events.append('others'))
    events = rec.events
    functional = events.index('pytest %s uwsgi functional tests/functional'
                              % releases.NEWEST)
    assert events.index('others') == functional + 1
    assert events.count('others') == 1
    # The lab's commands, then tempest, beside the older releases.
    assert events[functional + 2].startswith(
        'pytest %s uwsgi functional (lab commands)' % releases.NEWEST)
    assert events[functional + 3].startswith('tempest ')


def test_functional_tests_of_full_stacks_wait_for_the_hold(monkeypatch):
    """An older release's eventlet suites run at once; its uwsgi stack's
    functional tests wait for the hold (the newest release's end).
    """
    rec = _Recorder(monkeypatch)
    testrun.run_release('2025.1', ('eventlet', 'uwsgi'),
                        testrun.RELEASE_SUITES,
                        hold=lambda: rec.events.append('hold'))
    events = rec.events
    assert events.count('hold') == 1
    hold = events.index('hold')
    assert events[hold + 1] == (
        'pytest 2025.1 uwsgi functional tests/functional')
    assert max(i for i, e in enumerate(events) if 'eventlet' in e
               and e.startswith(('pytest', 'tempest'))) < hold
    # The uwsgi stack's tempest suites run while its functional tests wait.
    uwsgi_tempest = [i for i, e in enumerate(events)
                     if e.startswith('tempest 2025.1 uwsgi')]
    assert uwsgi_tempest and max(uwsgi_tempest) < hold


def test_the_matrix_runs_beside_the_newest_release(monkeypatch, tmp_path):
    """The older releases start at once with a hold file, touched once
    the newest release's functional tests are done, or when its run fails.
    """
    started = []

    class Other:
        def __init__(self, name, servers, suites, build, hold=None):
            self.name, self.hold = name, hold
            started.append(self)

        def start(self):
            assert not self.hold.exists()

        def wait(self):
            return [testrun.Counts('%s unit' % self.name, passed=1)]

    monkeypatch.setattr(testrun, '_ElsewhereRun', Other)
    monkeypatch.setattr(testrun, '_VenvBuild', lambda name: None)
    monkeypatch.setattr(testrun.tempfile, 'tempdir', str(tmp_path))

    def run_release(name, servers, suites, keep, after_functional=None):
        assert not started[0].hold.exists()
        after_functional()
        assert started[0].hold.exists()
        return [testrun.Counts('%s unit' % name, passed=1)]
    monkeypatch.setattr(testrun, 'run_release', run_release)
    results = testrun._run_matrix(('unit',), False)
    assert [o.name for o in started] == [n for n, _ in testrun.MATRIX]
    assert len(results) == 1 + len(testrun.MATRIX)

    def failing(name, servers, suites, keep, after_functional=None):
        raise RuntimeError('stack failed')
    monkeypatch.setattr(testrun, 'run_release', failing)
    started.clear()
    with pytest.raises(RuntimeError):
        testrun._run_matrix(('unit',), False)
    assert started[0].hold.exists()


def test_wait_for_file_returns_once_it_exists(tmp_path):
    path = tmp_path / 'done'
    timer = threading.Timer(0.05, path.touch)
    timer.start()
    testrun.wait_for_file(path, poll=0.01)
    assert path.exists()


def test_a_release_run_elsewhere_writes_to_its_log(monkeypatch, tmp_path):
    class Build:
        def wait(self):
            return testrun.Counts('2025.1 virtualenv', step=True,
                                  seconds=2.0)

    calls = []

    def fake_call(cmd, stdout=None, stderr=None, stdin=None):
        calls.append(cmd)
        stdout.write('suite output\n')
        stdout.flush()
        report = cmd[cmd.index('--report') + 1]
        with open(report, 'w') as f:
            f.write('[{"suite": "2025.1 unit", "passed": 4}]')
        return 0
    monkeypatch.setattr(testrun.subprocess, 'call', fake_call)
    monkeypatch.setattr(testrun.tempfile, 'tempdir', str(tmp_path))
    run = testrun._ElsewhereRun('2025.1', ('uwsgi',), ('unit',), Build(),
                                hold=tmp_path / 'hold')
    run.start()
    results = run.wait()
    assert [r.suite for r in results] == ['2025.1 virtualenv', '2025.1 unit']
    assert 'suite output' in run.log.read_text()
    assert calls[0][-2:] == ['--hold-functional', str(tmp_path / 'hold')]


def test_the_site_rule_tests_run_apart_with_site_store_on(monkeypatch):
    """The plugin suite leaves the site rule's tests out; they run next,
    on their own, with their tempest.conf, while cinder-volume has
    ``site_store`` on.
    """
    from cinder_multistore_lab.stack import tempest_run
    rec = _Recorder(monkeypatch)
    site_conf = Path('/tmp/fake/tempest-site-store.conf')

    @contextlib.contextmanager
    def site_store_cloud(directory):
        rec.events.append('site_store on')
        yield site_conf
        rec.events.append('site_store off')

    monkeypatch.setattr(tempest_run, 'site_store_cloud', site_store_cloud)
    results = testrun.run_release('2025.1', ('uwsgi', 'eventlet'),
                                  ('plugin',))
    plugin = 'tempest 2025.1 uwsgi tempest plugin'
    site = plugin + ' (site_store on)'
    assert rec.events[rec.events.index(plugin):][:4] == [
        plugin, 'site_store on', site, 'site_store off']
    test_ids, conf, exclude = rec.extras[plugin[len('tempest '):]]
    assert test_ids == testrun.PLUGIN_TESTS and conf is None
    assert list(exclude) == tempest_run.SITE_STORE_TESTS
    regex = tempest_run.exclude_regex(exclude)
    for test in tempest_run.SITE_STORE_TESTS:
        assert re.search(regex, test + '.SiteStoreUploadTest.test_x')
    assert not re.search(regex, 'cinder_multistore.tempest.api.'
                         'test_zero_copy.ZeroCopyUploadTest.test_x')
    assert rec.extras[site[len('tempest '):]] == (
        tempest_run.SITE_STORE_TESTS, site_conf, None)
    # Not again under eventlet: the rule is cinder-volume's.
    assert [r.suite for r in results if not r.step] == [
        plugin[len('tempest '):], site[len('tempest '):],
        '2025.1 eventlet tempest plugin']
    assert rec.events.count('site_store on') == 1


def test_a_release_run_with_a_hold_waits_for_its_file(monkeypatch, tmp_path):
    """``--hold-functional PATH``: the release's run gets a hold that
    returns once PATH exists.
    """
    from cinder_multistore_lab.stack import releases
    hold_file = tmp_path / 'done'
    seen = []

    def run_release(name, servers, suites, keep, hold=None):
        hold_file.touch()
        hold()
        seen.append(name)
        return [testrun.Counts('%s unit' % name, passed=1)]
    monkeypatch.setattr(testrun, 'run_release', run_release)
    monkeypatch.setattr(releases, 'installed',
                        lambda: releases.get('2025.1'))
    assert testrun.main(['--release', '2025.1', '--glance-server', 'uwsgi',
                         '--hold-functional', str(hold_file),
                         '--report', str(tmp_path / 'r.json')]) == 0
    assert seen == ['2025.1']
