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

"""The Ceph part of the embedded cloud, without a cluster."""

import base64
import configparser
import json
from pathlib import Path
import random
import struct

import pytest

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import ClusterPlan
from cinder_multistore_lab.stack.state import State


FSID = '6f1e6a53-1f0e-4c39-9d39-7b1c8c8d6e01'


def _cluster(tmp_path, site='central', base=21000, fsid=FSID):
    return ceph.Cluster(tmp_path, site, fsid, base)


def _paths(sections):
    for options in sections.values():
        for key, value in options.items():
            if isinstance(value, Path):
                yield key, value


def _state(tmp_path, sites=ceph.SITES):
    state = State(tmp_path)
    state.ceph_clusters = {
        site: ClusterPlan('fsid-%s' % site, 21000 + 100 * i)
        for i, site in enumerate(sites)}
    state.options.with_ceph = True
    state.save()
    return state


# -- ceph.conf ---------------------------------------------------------

def test_conf_identity_and_addresses(tmp_path):
    c = _cluster(tmp_path)
    conf = ceph.conf_sections(c)
    g = conf['global']
    assert g['fsid'] == FSID
    assert g['mon_host'] == '[v2:127.0.0.1:21000,v1:127.0.0.1:21001]'
    assert g['public_addr'] == g['cluster_addr'] == '127.0.0.1'
    assert (g['ms_bind_port_min'], g['ms_bind_port_max']) == (
        21002, 21000 + ceph.PORTS_PER_CLUSTER - 1)


def test_conf_single_osd_cluster_options(tmp_path):
    conf = ceph.conf_sections(_cluster(tmp_path), block_size=1 << 30)
    g, mon, mgr, osd = conf['global'], conf['mon'], conf['mgr'], conf['osd']
    assert g['osd_pool_default_size'] == 1
    assert g['mon_allow_pool_size_one'] is True
    assert g['mon_warn_on_pool_no_redundancy'] is False
    assert g['osd_crush_chooseleaf_type'] == 0
    assert g['mon_data_avail_warn'] == 5
    assert mon['paxos_propose_interval'] == 0.1
    assert 'mgr_initial_modules' in mon
    assert mgr['mgr_stats_period'] == 1
    assert osd['osd_objectstore'] == 'bluestore'
    assert osd['bluestore_block_create'] is True
    assert osd['bluestore_block_size'] == 1 << 30


def test_conf_client_timeouts(tmp_path):
    client = ceph.conf_sections(_cluster(tmp_path))['client']
    for option in ('rados_mon_op_timeout', 'rados_osd_op_timeout',
                   'client_mount_timeout'):
        assert 0 < client[option] <= 30


def test_conf_paths_are_private(tmp_path):
    c = _cluster(tmp_path)
    conf = ceph.conf_sections(c)
    names = {key for key, _ in _paths(conf)}
    assert {'mon_data', 'mgr_data', 'osd_data', 'run_dir', 'crash_dir',
            'log_file', 'admin_socket', 'pid_file', 'mon_cluster_log_file',
            'bluestore_block_path', 'keyring'} <= names
    for key, path in _paths(conf):
        assert c.folder in path.parents, (key, path)
    # The block file must not be osd/block: bluestore puts a link there.
    assert conf['osd']['bluestore_block_path'] != c.data('osd') / 'block'


def test_two_clusters_share_nothing(tmp_path):
    a = _cluster(tmp_path, 'central', 21000, FSID)
    b = _cluster(tmp_path, 'edge', 21000 + ceph.PORTS_PER_CLUSTER,
                 '0b7c1d8e-0000-4000-8000-000000000000')
    paths_a = {p for _, p in _paths(ceph.conf_sections(a))}
    paths_b = {p for _, p in _paths(ceph.conf_sections(b))}
    assert not paths_a & paths_b
    ports_a = set(range(a.base_port, a.bind_ports[1] + 1))
    ports_b = set(range(b.base_port, b.bind_ports[1] + 1))
    assert not ports_a & ports_b


def test_configure_writes_conf_and_keyrings(tmp_path):
    c = _cluster(tmp_path)
    ceph.configure(c)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(c.conf)
    assert parser['global']['fsid'] == FSID
    # Not $cluster: Cinder's backends connect with names of their own.
    assert parser['client']['keyring'].endswith('/ceph.$name.keyring')
    mon_keyring = c.mon_keyring.read_text()
    for entity in ('mon.', 'client.admin', 'mgr.x', 'osd.0',
                   'client.glance', 'client.cinder'):
        assert '[%s]' % entity in mon_keyring
    for user in ('admin', 'glance', 'cinder'):
        keyring = c.keyring(user)
        assert keyring.name == 'ceph.client.%s.keyring' % user
        assert keyring.stat().st_mode & 0o777 == 0o600
        assert '[client.%s]' % user in keyring.read_text()
    assert '[osd.0]' in (c.data('osd') / 'keyring').read_text()
    assert '[mgr.x]' in (c.data('mgr') / 'keyring').read_text()


# -- keys and caps -----------------------------------------------------

def test_new_key_encoding():
    key = ceph.new_key(now=1700000000, secret=b'\x01' * 16)
    raw = base64.b64decode(key)
    assert len(raw) == 28
    assert struct.unpack('<HIIH', raw[:12]) == (1, 1700000000, 0, 16)
    assert raw[12:] == b'\x01' * 16
    assert ceph.new_key() != ceph.new_key()


def test_keyring_text():
    text = ceph.keyring_text(
        {'client.glance': ('KEY', {'mon': 'profile rbd'})})
    assert text == ('[client.glance]\n\tkey = KEY\n'
                    '\tcaps mon = "profile rbd"\n')


def test_glance_and_cinder_caps():
    glance_osd = ceph.caps('client.glance')['osd']
    cinder_osd = ceph.caps('client.cinder')['osd']
    assert 'profile rbd pool=images' in glance_osd
    assert 'profile rbd-read-only pool=volumes' in glance_osd
    assert 'profile rbd pool=volumes' in cinder_osd
    # The clone upload makes the image's RBD image in Glance's pool.
    assert 'profile rbd pool=images' in cinder_osd


# -- ports -------------------------------------------------------------

def test_ports_overlap():
    size = ceph.PORTS_PER_CLUSTER
    assert ceph.ports_overlap(21000, [21000 + size - 1])
    assert not ceph.ports_overlap(21000, [21000 + size])
    assert not ceph.ports_overlap(21000, [])


def test_free_port_blocks_disjoint_and_in_range():
    bases = ceph.free_port_blocks(2, rng=random.Random(7))
    assert len(bases) == 2
    low, high = ceph.PORT_RANGE
    for base in bases:
        assert low <= base and base + ceph.PORTS_PER_CLUSTER <= high
    assert not ceph.ports_overlap(bases[0], bases[1:])


def test_free_port_blocks_gives_up(monkeypatch):
    monkeypatch.setattr(ceph, '_block_free', lambda base: False)
    with pytest.raises(process.StackError):
        ceph.free_port_blocks(1, rng=random.Random(1), attempts=5)


# -- readiness ---------------------------------------------------------

def test_health_ok():
    assert ceph.health_ok({'status': 'HEALTH_OK', 'checks': {}})
    assert not ceph.health_ok({'status': 'HEALTH_WARN',
                               'checks': {'PG_AVAILABILITY': {}}})
    assert ceph.health_ok({'status': 'HEALTH_WARN',
                           'checks': {'X': {}}}, frozenset({'X'}))


@pytest.mark.parametrize('states,total,expected', [
    ([{'name': 'active+clean', 'num': 17}], 17, True),
    ([{'name': 'active+clean', 'num': 9},
      {'name': 'creating+peering', 'num': 8}], 17, False),
    ([{'name': 'active+clean', 'num': 1}], 1, False),
    ([], 0, False),
])
def test_pgs_active(states, total, expected):
    stat = {'pg_summary': {'num_pg_by_state': states, 'num_pgs': total}}
    assert ceph.pgs_active(stat, 16) is expected


# -- the run's record, pids, cleanup -----------------------------------

def test_plan_records_fsid_and_ports(tmp_path, monkeypatch):
    monkeypatch.setattr(ceph, 'free_port_blocks',
                        lambda count: [21000 + 100 * i for i in range(count)])
    state = State(tmp_path)
    state.save()
    planned = ceph.plan(state)
    assert [c.site for c in planned] == list(ceph.SITES)
    assert len({c.fsid for c in planned}) == len(ceph.SITES)
    loaded = State.load(tmp_path)
    assert [c.base_port for c in ceph.clusters(loaded)] == [21000, 21100]
    assert ceph.cluster(loaded, 'edge').fsid == planned[1].fsid


def test_unknown_site(tmp_path):
    state = _state(tmp_path, ('central',))
    with pytest.raises(process.StackError):
        ceph.cluster(state, 'edge')
    with pytest.raises(process.StackError):
        ceph.stop_mon(state, 'edge')


def test_pause_needs_a_running_osd(tmp_path):
    state = _state(tmp_path)
    with pytest.raises(process.StackError, match='ceph-edge-osd'):
        ceph.pause_osd(tmp_path, 'edge')
    pid_file = process.run_dir(tmp_path) / 'ceph-edge-osd.pid'
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text('999999999 1\n')
    with pytest.raises(process.StackError):
        ceph.resume_osd(state, 'edge')


def test_service_names():
    assert ceph.service_name('edge', 'osd') == 'ceph-edge-osd'
    c = ceph.Cluster(Path('/x'), 'central', FSID, 21000)
    assert [c.service(d) for d in ceph.DAEMONS] == [
        'ceph-central-mon', 'ceph-central-mgr', 'ceph-central-osd']


def test_remove_keeps_logs(tmp_path):
    c = _cluster(tmp_path)
    ceph.configure(c)
    c.block.write_bytes(b'')
    (c.log_dir / 'ceph.log').write_text('kept')
    ceph.remove(tmp_path)
    assert [p.name for p in c.folder.iterdir()] == ['log']
    assert (c.log_dir / 'ceph.log').read_text() == 'kept'
    ceph.remove(tmp_path / 'nothing-here')


def test_record_service_once(tmp_path):
    state = State(tmp_path)
    state.record_service('ceph-edge-mon')
    state.record_service('ceph-edge-mon')
    assert State.load(tmp_path).services == ['ceph-edge-mon']


# -- what Glance, Cinder and stack.env get -----------------------------

def test_glance_store_order_is_weight_order():
    stores = glance.stores()
    assert stores == sorted(stores)
    assert {'ceph-central', 'ceph-edge'} <= set(stores)
    weights = glance.weights()
    assert sorted(stores, key=lambda s: -weights[s]) == stores
    assert glance.stores(with_ceph=False) == sorted(
        glance.FILE_STORES + (glance.HTTP_STORE,))
    assert glance.store_type('ceph-edge') == 'rbd'
    assert glance.store_type('alpha') == 'file'
    assert glance.store_type('web') == 'http'


def test_glance_rbd_store_section(tmp_path):
    c = _cluster(tmp_path)
    section = glance._rbd_store(c)
    assert section['rbd_store_pool'] == 'images'
    assert section['rbd_store_user'] == 'glance'
    assert section['rbd_store_ceph_conf'] == c.conf
    assert section['rbd_store_chunk_size'] == 8
    assert section['rados_connect_timeout'] > 0


def test_cinder_rbd_backends(tmp_path):
    state = _state(tmp_path)
    assert cinder.backends(state) == ['nfs', 'ceph-central', 'ceph-edge']
    edge = ceph.cluster(state, 'edge')
    name = cinder.rbd_cluster_name(state, 'edge')
    assert name != cinder.rbd_cluster_name(state, 'central')
    section = cinder._rbd_backend_section(edge, name)
    assert section['rbd_cluster_name'] == name
    assert section['volume_driver'] == cinder.RBD_DRIVER
    assert section['volume_backend_name'] == 'ceph-edge'
    assert section['backend_availability_zone'] == 'edge'
    assert section['rbd_pool'] == 'volumes'
    assert section['rbd_user'] == 'cinder'
    assert section['rbd_ceph_conf'] == edge.conf
    assert section['rbd_flatten_volume_from_snapshot'] is False
    assert cinder.site_type_specs('edge') == {
        'volume_backend_name': 'ceph-edge',
        'RESKEY:availability_zones': 'edge'}


def test_host_keyring_is_recorded_for_stack_down(tmp_path, monkeypatch):
    state = _state(tmp_path)
    monkeypatch.setattr(cinder, 'HOST_KEYRING',
                        str(tmp_path / 'etc-ceph' / '%s.client.%s.keyring'))
    edge = ceph.cluster(state, 'edge')
    edge.folder.mkdir(parents=True, exist_ok=True)
    edge.keyring('cinder').write_text('[client.cinder]\n\tkey = k\n')
    path = cinder.install_host_keyring(state, edge)
    assert path.name == '%s.client.cinder.keyring' % (
        cinder.rbd_cluster_name(state, 'edge'))
    assert path.read_text() == edge.keyring('cinder').read_text()
    assert str(path) in type(state).load(state.directory).host_files


def test_env_variables(tmp_path):
    state = _state(tmp_path)
    v = ceph.variables(state)
    assert v['CEPH_SITES'] == 'central,edge'
    for site in ceph.SITES:
        c = ceph.cluster(state, site)
        assert v['CEPH_CONF_%s' % site] == str(c.conf)
        assert v['CEPH_FSID_%s' % site] == 'fsid-%s' % site
        assert v['CEPH_KEYRING_ADMIN_%s' % site] == str(c.keyring('admin'))
    state.ports[cinder.NAME] = 8776
    cv = cinder.variables(state)
    assert cv['CINDER_RBD_BACKENDS'] == 'ceph-central,ceph-edge'
    assert cv['CINDER_VOLUME_TYPE_edge'] == 'edge'
    assert cv['CINDER_AZ_central'] == 'central'
    assert cv['CINDER_BACKEND_HOST_edge'] == 'cinder-multistore@ceph-edge'


class _FakeMon:
    """Answers mon commands from a script of JSON replies per prefix."""

    def __init__(self, replies):
        self.replies = replies
        self.sent = []

    def mon_command(self, command, inbuf, timeout=0):
        prefix = json.loads(command)['prefix']
        self.sent.append(prefix)
        answers = self.replies[prefix]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return 0, json.dumps(answer).encode(), ''


def _osd_dump(up, up_from):
    return {'osds': [{'osd': 0, 'up': up, 'up_from': up_from}]}


def _pg_stat(clean):
    states = [{'name': 'active+clean', 'num': clean}]
    if clean < 17:
        states.append({'name': 'stale+active+clean', 'num': 17 - clean})
    return {'pg_summary': {'num_pg_by_state': states, 'num_pgs': 17}}


def test_osd_rejoined_waits_for_a_new_up_epoch_and_clean_pgs(tmp_path):
    mon = _FakeMon({
        'osd dump': [_osd_dump(1, 7), _osd_dump(0, 7), _osd_dump(1, 9)],
        'pg stat': [_pg_stat(16), _pg_stat(17)],
    })
    ceph._wait_osd_rejoined(_cluster(tmp_path), mon, 7, timeout=10)
    assert mon.sent.count('osd dump') >= 3
    assert mon.sent[-1] == 'pg stat'


def test_osd_not_rejoining_is_an_error(tmp_path):
    mon = _FakeMon({'osd dump': [_osd_dump(1, 7)],
                    'pg stat': [_pg_stat(17)]})
    with pytest.raises(process.StackError, match='did not rejoin'):
        ceph._wait_osd_rejoined(_cluster(tmp_path), mon, 7, timeout=0.5)


def test_osd_may_be_marked_down_often(tmp_path):
    osd = ceph.conf_sections(_cluster(tmp_path))['osd']
    assert osd['osd_max_markdown_count'] >= 100


class _FakeMgr:
    """Answers mgr commands: ENOENT until the rbd_support module is up."""

    def __init__(self, refusals):
        self.refusals = refusals
        self.sent = []

    def mgr_command(self, command, inbuf, timeout=0):
        self.sent.append(json.loads(command))
        if self.refusals:
            self.refusals -= 1
            return -2, b'', 'No handler found for rbd trash purge schedule'
        return 0, b'', ''


def test_glance_pool_gets_a_trash_purge_schedule_once_the_mgr_answers():
    mgr = _FakeMgr(refusals=2)
    ceph._schedule_trash_purge(mgr, ceph.IMAGES_POOL, timeout=10)
    assert len(mgr.sent) == 3
    assert mgr.sent[-1] == {'prefix': 'rbd trash purge schedule add',
                            'level_spec': ceph.IMAGES_POOL + '/',
                            'interval': ceph.TRASH_PURGE_INTERVAL,
                            'format': 'json'}


def test_a_mgr_that_never_answers_fails_the_start(monkeypatch):
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(ceph.time, 'monotonic', lambda: next(clock))
    monkeypatch.setattr(ceph.time, 'sleep', lambda s: None)
    with pytest.raises(ceph.CephError, match='trash purge schedule'):
        ceph._schedule_trash_purge(_FakeMgr(refusals=1000),
                                   ceph.IMAGES_POOL, timeout=10)
