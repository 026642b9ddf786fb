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

"""The ini files the services write, from a State in a temporary folder.

Nothing is started: ``configure`` only writes files.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import rabbit
from cinder_multistore_lab.stack.state import Options
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import www


PORTS = {keystone.NAME: 35000, glance.NAME: 39292, www.NAME: 38000,
         cinder.NAME: 38776}


@pytest.fixture
def state(tmp_path: Path) -> State:
    made = State(tmp_path, run_id='0123abcd', sql='mysql',
                 ports=dict(PORTS), vhost='cms_0123abcd',
                 options=Options(with_cinder=True, with_ceph=False))
    made.save()
    return made


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    assert parser.read(path) == [str(path)]
    return parser


def test_keystone_conf(state: State) -> None:
    conf = _read(keystone.configure(state))
    assert conf['database']['connection'].endswith(
        '/cms_0123abcd_keystone?charset=utf8')
    assert conf['token']['provider'] == 'fernet'
    fernet = Path(conf['fernet_tokens']['key_repository'])
    assert fernet.is_dir() and fernet.stat().st_mode & 0o777 == 0o700
    assert keystone.url(state) == 'http://127.0.0.1:35000/v3'


def test_glance_conf_and_paste(state: State) -> None:
    pytest.importorskip('glance')
    conf = _read(glance.configure(state))
    enabled = conf['DEFAULT']['enabled_backends']
    for store in glance.stores(with_ceph=False):
        assert '%s:%s' % (store, glance.store_type(store)) in enabled
        assert conf.has_section(store)
    assert 'rbd' not in enabled
    assert conf['glance_store']['default_backend'] == glance.DEFAULT_STORE
    assert conf[glance.DEFAULT_STORE]['filesystem_store_datadir'] == str(
        glance.store_dir(state.directory, glance.DEFAULT_STORE))
    assert conf['DEFAULT']['public_endpoint'] == 'http://127.0.0.1:39292'
    assert conf['keystone_authtoken']['username'] == glance.NAME
    assert conf['keystone_authtoken']['password'] == state.password(
        glance.NAME)
    assert conf['database']['connection'].endswith(
        '/cms_0123abcd_glance?charset=utf8')
    for store in glance.RESERVED_STORES:
        assert conf.has_section(store)
    paste = glance.paste_path(state.directory).read_text()
    assert glance.FILTER_FACTORY in paste


def test_glance_plain_has_no_filter(state: State) -> None:
    pytest.importorskip('glance')
    state.ports[glance.PLAIN] = 39393
    conf = _read(glance.configure(state, glance.PLAIN))
    assert conf['DEFAULT']['public_endpoint'] == 'http://127.0.0.1:39393'
    paste = glance.paste_path(state.directory, glance.PLAIN).read_text()
    assert glance.FILTER_FACTORY not in paste


def test_cinder_conf(state: State) -> None:
    pytest.importorskip('cinder')
    conf = _read(cinder.configure(state, 'upstream'))
    default = conf['DEFAULT']
    assert default['transport_url'] == rabbit.transport_url(state)
    assert default['transport_url'].endswith('/cms_0123abcd')
    assert default['enabled_backends'] == cinder.BACKEND
    assert default['glance_api_servers'] == glance.url(state)
    assert default['default_volume_type'] == cinder.VOLUME_TYPE
    assert conf[cinder.BACKEND]['volume_driver'] == cinder.NFS_DRIVER
    assert conf['database']['connection'].endswith(
        '/cms_0123abcd_cinder?charset=utf8')
    assert state.cinder_image_driver_effective == 'upstream'
    assert State.load(state.directory).cinder_image_driver_effective == (
        'upstream')


def test_state_round_trip(state: State) -> None:
    state.test_image = 'img'
    state.save()
    loaded = State.load(state.directory)
    assert loaded == state
    assert isinstance(loaded.options, Options)


def test_state_reads_the_untyped_record_of_earlier_versions(
        tmp_path: Path) -> None:
    (tmp_path / 'state.json').write_text(
        '{"directory": "x", "run_id": "1", "extra": {"with_ceph": true, '
        '"with_cinder": true, "glance_server": "eventlet", "release": '
        '"2025.2", "test_image": "img", "ceph": {"edge": {"fsid": "f", '
        '"base_port": 21000}}, "unknown": 1}}')
    loaded = State.load(tmp_path)
    assert loaded is not None
    assert loaded.options == Options(with_cinder=True, with_ceph=True,
                                     glance_server='eventlet',
                                     release='2025.2')
    assert loaded.test_image == 'img'
    assert loaded.ceph_clusters['edge'].base_port == 21000
    assert loaded.directory == tmp_path
