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
