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

"""How the embedded cloud starts glance-api under each server."""

import configparser

import pytest

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State


@pytest.fixture
def started(monkeypatch, tmp_path):
    calls = []

    def start(directory, name, argv, env=None, cwd=None):
        calls.append({'name': name, 'argv': list(argv), 'env': env})
        return process.Process(name, 1, 1, tmp_path / 'x.log',
                               tmp_path / 'x.pid')
    monkeypatch.setattr(process, 'start', start)
    monkeypatch.setattr(common, 'tool', lambda name: '/venv/bin/' + name)
    return calls


def _state(tmp_path, server=None):
    state = State(tmp_path)
    state.ports.update({glance.NAME: 9292, 'glance-extra': 9393})
    if server:
        state.options.glance_server = server
    return state


@pytest.mark.parametrize('server', [None, 'uwsgi'])
def test_uwsgi_is_the_default(started, tmp_path, server):
    state = _state(tmp_path, server)
    glance.start(state, block=False)
    argv = started[0]['argv']
    assert argv[0] == '/venv/bin/uwsgi'
    assert argv[argv.index('--module') + 1] == 'glance.wsgi.api:application'
    assert argv[argv.index('--http-socket') + 1] == '127.0.0.1:9292'
    assert argv[argv.index('--processes') + 1] == str(glance.WORKERS)
    assert started[0]['env'] == {
        'OS_GLANCE_CONFIG_DIR': str(glance.etc(tmp_path))}
    assert not glance.server_conf_path(tmp_path).exists()


@pytest.mark.parametrize('name', [glance.NAME, 'glance-extra'])
def test_eventlet_runs_glance_api_with_the_same_config(started, tmp_path,
                                                       name):
    state = _state(tmp_path, 'eventlet')
    glance.start(state, block=False, name=name)
    call = started[0]
    assert call['name'] == name
    extra = glance.server_conf_path(tmp_path, name)
    assert call['argv'] == ['/venv/bin/glance-api',
                            '--config-file',
                            str(glance.conf_path(tmp_path, name)),
                            '--config-file', str(extra)]
    assert call['env'] == {'OS_GLANCE_CONFIG_DIR':
                           str(glance.etc(tmp_path, name))}
    parser = configparser.ConfigParser()
    parser.read(extra)
    assert dict(parser['DEFAULT']) == {
        'bind_host': '127.0.0.1',
        'bind_port': str(state.ports[name]),
        'workers': str(glance.WORKERS),
        'client_socket_timeout': str(glance.CLIENT_SOCKET_TIMEOUT)}
    assert name in State.load(tmp_path).services
