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

"""The order in which ``stack up`` and ``stack down`` walk the services.

Fake services record their calls; nothing is started.
"""

from __future__ import annotations

from pathlib import Path
import sys

import pytest

from cinder_multistore_lab import stack
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack import service
from cinder_multistore_lab.stack.state import Options
from cinder_multistore_lab.stack.state import State


class Fake:
    """A service that records what is called, in a shared list."""

    def __init__(self, name: str, calls: list[str],
                 requires: tuple[str, ...] = (),
                 fail_in: str | None = None) -> None:
        self.name = name
        self.requires = requires
        self.calls = calls
        self.fail_in = fail_in

    def _call(self, what: str) -> None:
        self.calls.append('%s %s' % (what, self.name))
        if what == self.fail_in != 'stop':
            raise process.ServiceError(self.name, None, 'broken')

    def configure(self, state: State) -> None:
        self._call('configure')

    def start(self, state: State) -> None:
        self._call('start')

    def wait_ready(self, state: State) -> None:
        self._call('ready')

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        assert catalog == 'catalog'
        self._call('register')

    def stop(self, state: State) -> None:
        self._call('stop')
        if self.fail_in == 'stop':
            raise process.StackError('%s would not stop' % self.name)

    def env(self, state: State) -> None:
        return None


class FakeKeystone(Fake):
    def catalog(self, state: State) -> keystone.Catalog:
        self._call('catalog')
        return 'catalog'  # type: ignore[return-value]


def _names(options: Options) -> list[str]:
    return [s.name for s in service.services(options)]


def test_the_full_stack_starts_in_this_order() -> None:
    assert _names(Options(with_cinder=True, with_ceph=True,
                          with_neutron=True)) == [
        'ceph', 'sql', 'rabbit', 'www', 'keystone', 'glance', 'cinder',
        'neutron']


def test_glance_alone() -> None:
    assert _names(Options(with_cinder=False, with_ceph=False,
                          with_neutron=False)) == [
        'sql', 'www', 'keystone', 'glance']


def test_databases_of_the_services_that_run() -> None:
    sql = service.services(Options(with_cinder=False, with_neutron=True))[0]
    assert isinstance(sql, service.Databases)
    assert sql.users == ('keystone', 'glance', 'neutron')


def test_every_service_is_stopped_by_down() -> None:
    names = [s.name for s in service.every_service()]
    assert names == _names(Options(with_cinder=True, with_ceph=True,
                                   with_neutron=True))


def test_services_fit_the_protocol() -> None:
    for found in service.every_service():
        for attr in ('configure', 'start', 'wait_ready', 'register', 'stop',
                     'env'):
            assert callable(getattr(found, attr)), (found, attr)
    keystones = [s for s in service.every_service()
                 if isinstance(s, service.CatalogProvider)]
    assert [s.name for s in keystones] == ['keystone']


def test_requirements_come_earlier_in_the_list() -> None:
    found = service.every_service()
    seen: set[str] = set()
    for s in found:
        assert set(s.requires) <= seen, s
        seen.add(s.name)


def test_bring_up_order(tmp_path: Path) -> None:
    calls: list[str] = []
    services = [Fake('ceph', calls), Fake('sql', calls),
                FakeKeystone('keystone', calls, requires=('sql',)),
                Fake('glance', calls, requires=('keystone',)),
                Fake('cinder', calls, requires=('keystone', 'ceph', 'nope'))]
    service.bring_up(State(tmp_path), services)
    assert calls == [
        # Everything is configured first (the clusters begin starting).
        'configure ceph', 'configure sql', 'configure keystone',
        'configure glance', 'configure cinder',
        # Then started in order; what a service needs is made ready
        # first, and once Keystone is, everything registers.
        'start ceph', 'start sql', 'ready sql', 'start keystone',
        'ready keystone', 'catalog keystone', 'register ceph',
        'register sql', 'register keystone', 'register glance',
        'register cinder', 'start glance', 'ready ceph', 'start cinder',
        # The rest is waited for, in order, once each.
        'ready glance', 'ready cinder']


def test_bring_down_is_the_reverse_and_goes_on_after_errors(
        tmp_path: Path) -> None:
    calls: list[str] = []
    services = [Fake('a', calls), Fake('b', calls, fail_in='stop'),
                Fake('c', calls)]
    errors = service.bring_down(State(tmp_path), services)
    assert calls == ['stop c', 'stop b', 'stop a']
    assert errors == ['b would not stop']


def test_failed_start_stops_everything_in_reverse(tmp_path: Path) -> None:
    calls: list[str] = []
    services = [Fake('a', calls), Fake('b', calls, fail_in='start'),
                Fake('c', calls)]
    with pytest.raises(process.ServiceError):
        service.bring_up(State(tmp_path), services)
    assert calls[-4:] == ['start b', 'stop c', 'stop b', 'stop a']
    assert 'start c' not in calls


def test_down_of_an_empty_directory(tmp_path: Path) -> None:
    stack.down(tmp_path)
    stack.down(tmp_path)


def test_down_stops_what_a_pid_file_names(tmp_path: Path) -> None:
    proc = process.start(tmp_path, 'leftover', [
        sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        stack.down(tmp_path)
        assert not proc.pid_file.exists()
        assert not process.session_members(proc.pid, proc.started)
    finally:
        process.stop_pid(proc.pid, proc.started, timeout=2)
