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

"""The clone way of moving an upload's data, against an in-memory Ceph
whose errors are the real ``rbd`` module's exceptions."""

import pytest

from cinder_multistore.image import exceptions
from cinder_multistore.image import rbd_clone

rbd = pytest.importorskip('rbd')

VOLUMES = 'volumes'
IMAGES = 'images'
VOLUME = 'volume-1'
IMAGE_ID = '7f1c2b9e-0d8a-4b51-9e3f-5a6b7c8d9e0f'
FSID = '588f31ee-2ba1-4c2c-86c5-c5cf53b4b2a7'


class FakeCeph:
    """Pools of RBD images with snapshots; ``fail[step]`` raises once."""

    def __init__(self):
        self.pools = {VOLUMES: {VOLUME: {'snaps': {}, 'parent': None}},
                      IMAGES: {}}
        self.fail = {}

    def check(self, step):
        if step in self.fail:
            raise self.fail.pop(step)

    def module(self):
        ceph = self

        class Image:
            def __init__(self, ioctx, name):
                ceph.check('open %s/%s' % (ioctx, name))
                if name not in ceph.pools[ioctx]:
                    raise rbd.ImageNotFound('no image %s' % name, errno=2)
                self.record = ceph.pools[ioctx][name]

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def create_snap(self, snap):
                ceph.check('create_snap %s' % snap)
                self.record['snaps'][snap] = False

            def protect_snap(self, snap):
                ceph.check('protect_snap %s' % snap)
                self.record['snaps'][snap] = True

            def unprotect_snap(self, snap):
                ceph.check('unprotect_snap %s' % snap)
                if not self.record['snaps'][snap]:
                    raise rbd.InvalidArgument('not protected', errno=22)
                self.record['snaps'][snap] = False

            def remove_snap(self, snap):
                ceph.check('remove_snap %s' % snap)
                if self.record['snaps'][snap]:
                    raise rbd.ImageBusy('protected', errno=16)
                del self.record['snaps'][snap]

            def list_snaps(self):
                return [{'name': n} for n in self.record['snaps']]

            def flatten(self):
                ceph.check('flatten')
                self.record['parent'] = None

        class RBD:
            def clone(self, p_ioctx, p_name, p_snap, c_ioctx, c_name):
                ceph.check('clone')
                if c_name in ceph.pools[c_ioctx]:
                    raise rbd.ImageExists('exists', errno=17)
                ceph.pools[c_ioctx][c_name] = {
                    'snaps': {}, 'parent': (p_ioctx, p_name, p_snap)}

            def remove(self, ioctx, name):
                ceph.check('remove')
                if name not in ceph.pools[ioctx]:
                    raise rbd.ImageNotFound('gone', errno=2)
                if ceph.pools[ioctx][name]['snaps']:
                    raise rbd.ImageHasSnapshots('snaps', errno=39)
                del ceph.pools[ioctx][name]

        class Module:
            Error = rbd.Error
            ImageNotFound = rbd.ImageNotFound
            InvalidArgument = rbd.InvalidArgument

        Module.Image = Image
        Module.RBD = RBD
        return Module

    def volume_snaps(self):
        return self.pools[VOLUMES][VOLUME]['snaps']


@pytest.fixture
def ceph():
    return FakeCeph()


def _clone(ceph):
    rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES, IMAGES,
                           IMAGE_ID)


def test_location_is_glance_stores_layout():
    assert rbd_clone.location_url(FSID, IMAGES, IMAGE_ID) == (
        'rbd://%s/images/%s/snap' % (FSID, IMAGE_ID))


def test_the_clone_is_flattened_with_a_protected_snap(ceph):
    _clone(ceph)
    assert ceph.pools[IMAGES][IMAGE_ID] == {'snaps': {'snap': True},
                                            'parent': None}
    assert ceph.volume_snaps() == {}


@pytest.mark.parametrize('step,error', [
    ('create_snap cms-upload-' + IMAGE_ID,
     rbd.PermissionError('no rights', errno=1)),
    ('protect_snap cms-upload-' + IMAGE_ID,
     rbd.PermissionError('no rights', errno=1)),
    ('clone', rbd.PermissionError('no rights on images', errno=1)),
    ('clone', rbd.ImageExists('exists', errno=17)),
    ('flatten', rbd.IOError('flatten failed', errno=5)),
    ('create_snap snap', rbd.PermissionError('no rights', errno=1)),
    ('protect_snap snap', rbd.ReadOnlyImage('read only', errno=30)),
])
def test_a_refused_step_leaves_nothing(ceph, step, error):
    ceph.fail[step] = error
    with pytest.raises(exceptions.CloneRefused) as raised:
        _clone(ceph)
    assert ceph.pools[IMAGES] == {}
    assert ceph.volume_snaps() == {}
    assert type(error).__name__ in str(raised.value)
    assert raised.value.kwargs['image_id'] == IMAGE_ID


def test_an_existing_image_of_that_name_is_kept(ceph):
    ceph.pools[IMAGES][IMAGE_ID] = {'snaps': {'snap': True}, 'parent': None}
    with pytest.raises(exceptions.CloneRefused):
        _clone(ceph)
    assert ceph.pools[IMAGES][IMAGE_ID] == {'snaps': {'snap': True},
                                            'parent': None}
    assert ceph.volume_snaps() == {}


def test_remove_image_removes_the_clone_and_its_snap(ceph):
    _clone(ceph)
    rbd_clone.remove_image(ceph.module(), IMAGES, IMAGES, IMAGE_ID)
    assert ceph.pools[IMAGES] == {}


def test_remove_image_of_a_gone_image_is_fine(ceph):
    rbd_clone.remove_image(ceph.module(), IMAGES, IMAGES, IMAGE_ID)


def test_remove_image_refused_names_the_commands(ceph):
    _clone(ceph)
    ceph.fail['remove'] = rbd.PermissionError('no rights', errno=1)
    with pytest.raises(exceptions.CloneNotRemoved) as raised:
        rbd_clone.remove_image(ceph.module(), IMAGES, IMAGES, IMAGE_ID)
    assert 'rbd rm images/%s' % IMAGE_ID in str(raised.value)
