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

"""The release table, its constraints files and the test command's options."""

import subprocess

import pytest

from cinder_multistore_lab.stack.process import StackError
from cinder_multistore_lab.stack import releases
from cinder_multistore_lab import testrun


def _pins(release):
    pins = {}
    for line in release.constraints.read_text().splitlines():
        name, sep, version = line.partition('==')
        if sep and not line.startswith('#'):
            pins[name.strip().lower().replace('_', '-')] = version.strip()
    return pins


@pytest.mark.parametrize('release', releases.RELEASES,
                         ids=lambda r: r.name)
def test_constraints_pin_the_release_services(release):
    pins = _pins(release)
    for service in ('glance', 'cinder', 'keystone', 'tempest', 'neutron'):
        assert pins.get(service) == getattr(release, service), service
    # The project itself is installed from the checkout, never pinned.
    assert 'cinder-multistore' not in pins


def test_every_constraints_file_is_a_release():
    files = sorted(p.stem for p in releases.CONSTRAINTS_DIR.glob('*.txt'))
    assert files == sorted(releases.NAMES)
    assert releases.NEWEST == max(releases.NAMES)


def test_installed_release_is_read_from_glance(monkeypatch):
    monkeypatch.setattr(releases, '_version',
                        lambda name: {'glance': '30.2.0'}.get(name))
    assert releases.installed().name == '2025.1'
    monkeypatch.setattr(releases, '_version', lambda name: '99.0.0')
    assert releases.installed() is None
    monkeypatch.setattr(releases, '_version', lambda name: None)
    assert releases.installed() is None


def test_unknown_release_names_the_supported_ones():
    with pytest.raises(StackError) as raised:
        releases.get('2024.2')
    assert '2025.1, 2025.2, 2026.1, 2026.2' in str(raised.value)


def test_eventlet_server_only_where_glance_has_it():
    releases.check_server(releases.get('2025.1'), 'eventlet')
    with pytest.raises(StackError) as raised:
        releases.check_server(releases.get('2026.2'), 'eventlet')
    assert 'it has: uwsgi' in str(raised.value)


def test_venv_of_the_newest_is_the_projects(monkeypatch, tmp_path):
    monkeypatch.delenv('CMS_VENV', raising=False)
    monkeypatch.setenv('CMS_RELEASE_VENVS', str(tmp_path))
    assert releases.venv_dir(releases.NEWEST) == releases.TOP / '.venv'
    assert releases.venv_dir('2025.1') == tmp_path / '2025.1'
    argv = releases.reexec_argv('2025.1', ['stack', 'up', '--dir', 'D'])
    assert argv == [str(tmp_path / '2025.1' / 'bin' / 'cinder-multistore-lab'),
                    'stack', 'up', '--dir', 'D']


def test_setup_refuses_an_unknown_release():
    done = subprocess.run(
        ['bash', str(releases.TOP / 'tools' / 'setup.sh'), '--release',
         '2024.2'], capture_output=True, text=True)
    assert done.returncode == 2
    assert 'unknown release 2024.2' in done.stderr
    assert '2025.1 2025.2 2026.1 2026.2' in done.stderr


def test_test_command_options():
    args = testrun._parse(['--release', '2025.1', '--glance-server',
                           'eventlet', '--suites', 'functional,plugin'])
    assert args.release == '2025.1'
    assert args.glance_server == ['eventlet']
    assert args.suites == ('functional', 'plugin')
    for bad in (['--suites', 'nope'], ['--suites', ','],
                ['--glance-server', 'uwsgi']):
        with pytest.raises(SystemExit):
            testrun._parse(bad)


def test_matrix_releases_and_servers_exist():
    for name, servers in testrun.MATRIX:
        release = releases.get(name)
        for server in servers:
            releases.check_server(release, server)


def test_skip_reasons_are_counted():
    output = '\n'.join([
        '{0} a.B.test_x ... SKIPPED: Nova is not available',
        '{1} a.B.test_y ... SKIPPED: Nova is not available',
        '{1} setUpClass (a.C) ... SKIPPED: Backup is disabled',
        '{0} a.B.test_z [0.1s] ... ok'])
    assert testrun.skip_reasons(output) == {
        'Nova is not available': 2, 'Backup is disabled': 1}


def test_a_suite_passes_only_with_a_passed_test():
    assert testrun.Counts('s', passed=1, skipped=3).ok
    assert not testrun.Counts('s', skipped=3).ok
    assert not testrun.Counts('s', passed=5, failed=1).ok
