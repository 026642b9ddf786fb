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

"""The pure choice between cloning a volume in Ceph and streaming it."""

import pytest

from cinder_multistore import placement


FSID = '588f31ee-2ba1-4c2c-86c5-c5cf53b4b2a7'
OTHER = '9912dd08-2e22-428f-b9c7-53de49baf067'
DETAILS = [
    {'id': 'ceph-central', 'type': 'rbd',
     'properties': {'fsid': FSID, 'pool': 'images'}},
    {'id': 'ceph-edge', 'type': 'rbd',
     'properties': {'fsid': OTHER, 'pool': 'images'}},
    {'id': 'beta', 'type': 'file', 'properties': {}, 'default': True},
    {'id': 'ro', 'type': 'rbd', 'read-only': 'true',
     'properties': {'fsid': FSID, 'pool': 'images'}},
    {'id': 'nopool', 'type': 'rbd', 'properties': {'fsid': FSID}},
]


def _decide(enabled=True, fsid=FSID, disk='raw', container='bare',
            stores=('ceph-central',), details=DETAILS, why='not rbd',
            copy_others=True):
    return placement.decide_copy_way(enabled, fsid, disk, container,
                                     stores, details, why, copy_others)


def test_raw_into_the_volumes_own_cluster_is_a_clone():
    decision = _decide()
    assert decision.clone
    assert decision.way is placement.CopyWay.CLONE
    assert (decision.store, decision.pool, decision.fsid) == (
        'ceph-central', 'images', FSID)
    assert 'ceph-central' in decision.reason and FSID in decision.reason


def test_the_fsid_matches_whatever_its_case():
    assert _decide(fsid=' %s ' % FSID.upper()).clone


@pytest.mark.parametrize('kwargs,why', [
    ({'enabled': False}, 'zero_copy is off'),
    ({'disk': 'qcow2'}, 'the disk format is qcow2, not raw'),
    ({'disk': None}, 'the disk format is unknown, not raw'),
    ({'container': 'compressed'}, 'the container format is compressed'),
    ({'stores': ()}, 'name no store'),
    ({'stores': ('ceph-central', 'ceph-edge'), 'copy_others': False},
     'several stores (ceph-central, ceph-edge) and [multistore_image_'
     'service] colocation_in_upload is set'),
    ({'stores': ('ceph-edge', 'beta')},
     'store ceph-edge is not a writable rbd store in the volume\'s Ceph '
     'cluster %s; store beta is a file store, not rbd' % FSID),
    ({'fsid': None}, 'not rbd'),
    ({'details': None}, 'stores detail could not be read'),
    ({'stores': ('gone',)}, 'store gone is not in Glance\'s stores detail'),
    ({'stores': ('beta',)}, 'store beta is a file store, not rbd'),
    ({'stores': ('ceph-edge',)},
     'store ceph-edge is not a writable rbd store in the volume\'s Ceph '
     'cluster %s' % FSID),
    ({'stores': ('ro',)}, 'store ro is not a writable rbd store'),
    ({'stores': ('nopool',)}, 'gives no pool for store nopool'),
])
def test_anything_else_streams_and_says_why(kwargs, why):
    decision = _decide(**kwargs)
    assert decision.way is placement.CopyWay.STREAM
    assert not decision.clone
    assert decision.reason.startswith('streamed: ')
    assert why in decision.reason
    assert decision.store is None and decision.pool is None


def test_the_cheap_facts_come_first():
    """A qcow2 upload of an unknown cluster says qcow2.

    So the caller need not ask Ceph or Glance for an upload that streams
    anyway.
    """
    assert 'qcow2' in _decide(disk='qcow2', fsid=None, details=None).reason
    assert 'no store' in _decide(stores=(), fsid=None, details=None).reason


@pytest.mark.parametrize('stores,others', [
    (('ceph-central', 'ceph-edge'), ('ceph-edge',)),
    (('ceph-edge', 'beta', 'ceph-central'), ('ceph-edge', 'beta')),
])
def test_a_colocation_clones_into_the_volumes_cluster_and_copies_the_rest(
        stores, others):
    decision = _decide(stores=stores)
    assert decision.clone and decision.store == 'ceph-central'
    assert decision.others == others
    assert "%s get their copies from Glance's copy-image import" % (
        ', '.join(others)) in decision.reason


def test_one_store_has_no_others():
    assert _decide().others == ()
