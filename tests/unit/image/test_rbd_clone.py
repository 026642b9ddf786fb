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
    """Pools of RBD images with snapshots and clones, as librbd keeps
    them; ``fail[step]`` raises once.

    ``clone_format`` 2 (Mimic and later clients): a snapshot need not be
    protected to be cloned, and one with clones moves to the snapshot
    trash when removed. 1: a clone of an unprotected snapshot is refused
    with EINVAL, as librbd does.
    """

    def __init__(self, clone_format=2):
        self.clone_format = clone_format
        self.pools = {VOLUMES: {}, IMAGES: {}}
        self.trash = {VOLUMES: {}, IMAGES: {}}
        self.fail = {}
        self.ids = 0
        self.add(VOLUMES, VOLUME)

    def add(self, pool, name, parent=None):
        self.ids += 1
        record = {'id': 'id%d' % self.ids, 'snaps': {}, 'parent': parent,
                  'metadata': {}}
        self.pools[pool][name] = record
        return record

    def check(self, step):
        if step in self.fail:
            raise self.fail.pop(step)

    def snap_id(self):
        self.ids += 1
        return self.ids

    def children(self, pool, record, snap_id):
        return [{'pool': p, 'image': n, 'trash': False}
                for p, images in self.pools.items()
                for n, r in images.items()
                if r['parent'] == (pool, record['id'], snap_id)]

    def module(self):
        ceph = self

        class Image:
            def __init__(self, ioctx, name=None, snapshot=None,
                         read_only=False, image_id=None):
                ceph.check('open %s/%s' % (ioctx, name or image_id))
                self.pool = ioctx
                if image_id is not None:
                    if image_id not in ceph.trash[ioctx]:
                        raise rbd.ImageNotFound('no image', errno=2)
                    self.record = ceph.trash[ioctx][image_id]
                elif name not in ceph.pools[ioctx]:
                    raise rbd.ImageNotFound('no image %s' % name, errno=2)
                else:
                    self.record = ceph.pools[ioctx][name]
                self.current = None

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def close(self):
                pass

            def create_snap(self, snap):
                ceph.check('create_snap %s' % snap)
                self.record['snaps'][snap] = {
                    'id': ceph.snap_id(), 'protected': False, 'trash': None}

            def protect_snap(self, snap):
                ceph.check('protect_snap %s' % snap)
                self.record['snaps'][snap]['protected'] = True

            def unprotect_snap(self, snap):
                ceph.check('unprotect_snap %s' % snap)
                record = self.record['snaps'][snap]
                if not record['protected']:
                    raise rbd.InvalidArgument('not protected', errno=22)
                if ceph.children(self.pool, self.record, record['id']):
                    raise rbd.ImageBusy('has children', errno=16)
                record['protected'] = False

            def remove_snap(self, snap):
                ceph.check('remove_snap %s' % snap)
                record = self.record['snaps'][snap]
                if record['protected']:
                    raise rbd.ImageBusy('protected', errno=16)
                del self.record['snaps'][snap]
                if ceph.children(self.pool, self.record, record['id']):
                    record['trash'] = snap
                    self.record['snaps']['trashed-%d' % record['id']] = (
                        record)

            def remove_snap_by_id(self, snap_id):
                ceph.check('remove_snap_by_id')
                for name, record in list(self.record['snaps'].items()):
                    if record['id'] == snap_id:
                        if ceph.children(self.pool, self.record, snap_id):
                            raise rbd.ImageBusy('has children', errno=16)
                        del self.record['snaps'][name]
                        return
                raise rbd.ImageNotFound('no snap', errno=2)

            def list_snaps(self):
                snaps = []
                for name, record in self.record['snaps'].items():
                    snap = {'id': record['id'], 'name': name,
                            'namespace': 0}
                    if record['trash']:
                        snap.update(namespace=2, trash={
                            'original_name': record['trash']})
                    snaps.append(snap)
                return snaps

            def set_snap_by_id(self, snap_id):
                self.current = snap_id

            def set_snap(self, name):
                self.current = None if name is None else (
                    self.record['snaps'][name]['id'])

            def list_children2(self):
                ceph.check('list_children2')
                return ceph.children(self.pool, self.record, self.current)

            def parent_info(self):
                if self.record['parent'] is None:
                    raise rbd.ImageNotFound('no parent', errno=2)
                pool, parent_id, snap_id = self.record['parent']
                [(name, record)] = [(n, r) for n, r in ceph.pools[pool].items()
                                    if r['id'] == parent_id]
                [snap] = [n for n, r in record['snaps'].items()
                          if r['id'] == snap_id]
                return pool, name, snap  # librbd gives the snapshot's name

            def metadata_set(self, key, value):
                self.record['metadata'][key] = value

            def metadata_get(self, key):
                if key not in self.record['metadata']:
                    raise KeyError(key)  # python3-rbd's own error
                return self.record['metadata'][key]

            def flatten(self):
                ceph.check('flatten')
                self.record['parent'] = None

        class RBD:
            def clone(self, p_ioctx, p_name, p_snap, c_ioctx, c_name):
                ceph.check('clone')
                parent = ceph.pools[p_ioctx][p_name]
                snap = parent['snaps'][p_snap]
                if ceph.clone_format == 1 and not snap['protected']:
                    raise rbd.InvalidArgument('parent snapshot must be '
                                              'protected', errno=22)
                if c_name in ceph.pools[c_ioctx]:
                    raise rbd.ImageExists('exists', errno=17)
                ceph.add(c_ioctx, c_name,
                         parent=(p_ioctx, parent['id'], snap['id']))

            def remove(self, ioctx, name):
                ceph.check('remove')
                if name not in ceph.pools[ioctx]:
                    raise rbd.ImageNotFound('gone', errno=2)
                if ceph.pools[ioctx][name]['snaps']:
                    raise rbd.ImageHasSnapshots('snaps', errno=39)
                del ceph.pools[ioctx][name]

            def trash_move(self, ioctx, name, delay=0):
                ceph.check('trash_move')
                record = ceph.pools[ioctx].pop(name)
                record['name'] = name
                ceph.trash[ioctx][record['id']] = record

            def trash_list(self, ioctx):
                ceph.check('trash_list')
                return [{'id': i, 'name': r['name'], 'source': 'USER'}
                        for i, r in ceph.trash[ioctx].items()]

            def trash_remove(self, ioctx, image_id, force=False):
                ceph.check('trash_remove')
                if ceph.trash[ioctx][image_id]['snaps']:
                    raise rbd.ImageHasSnapshots('snaps', errno=39)
                del ceph.trash[ioctx][image_id]

            def list(self, ioctx):
                return list(ceph.pools[ioctx])

        class Module:
            Error = rbd.Error
            ImageNotFound = rbd.ImageNotFound
            InvalidArgument = rbd.InvalidArgument
            PermissionError = rbd.PermissionError

        Module.Image = Image
        Module.RBD = RBD
        return Module

    def volume_snaps(self):
        return self.pools[VOLUMES][VOLUME]['snaps']

    def user_snaps(self, pool, name):
        return {n: r for n, r in self.pools[pool][name]['snaps'].items()
                if not r['trash']}

    def delete_image(self, image_id=IMAGE_ID):
        """Glance's delete (glance_store's rbd driver)."""
        module = self.module()
        with module.Image(IMAGES, image_id) as image:
            image.unprotect_snap('snap')
            image.remove_snap('snap')
        module.RBD().remove(IMAGES, image_id)


@pytest.fixture
def ceph():
    return FakeCeph()


def _clone(ceph):
    return rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES,
                                  IMAGES, IMAGE_ID)


def test_location_is_glance_stores_layout():
    assert rbd_clone.location_url(FSID, IMAGES, IMAGE_ID) == (
        'rbd://%s/images/%s/snap' % (FSID, IMAGE_ID))


def test_the_image_is_a_copy_on_write_clone_with_a_protected_snap(ceph):
    assert _clone(ceph) == rbd_clone.COPY_ON_WRITE
    image = ceph.pools[IMAGES][IMAGE_ID]
    volume = ceph.pools[VOLUMES][VOLUME]
    [trashed] = volume['snaps'].values()
    assert image['parent'] == (VOLUMES, volume['id'], trashed['id'])
    assert ceph.user_snaps(IMAGES, IMAGE_ID) == {
        'snap': {'id': image['snaps']['snap']['id'], 'protected': True,
                 'trash': None}}
    # The volume's snapshot is in the snapshot trash: Cinder and the
    # user see no snapshot of the volume.
    assert ceph.user_snaps(VOLUMES, VOLUME) == {}
    assert trashed['trash'] == 'cms-upload-' + IMAGE_ID


def test_clone_format_1_flattens_the_clone():
    ceph = FakeCeph(clone_format=1)
    assert _clone(ceph) == rbd_clone.FLATTENED
    assert ceph.pools[IMAGES][IMAGE_ID]['parent'] is None
    assert ceph.user_snaps(IMAGES, IMAGE_ID)['snap']['protected']
    assert ceph.volume_snaps() == {}


@pytest.mark.parametrize('clone_format,step,error', [
    (2, 'create_snap cms-upload-' + IMAGE_ID,
     rbd.PermissionError('no rights', errno=1)),
    (2, 'clone', rbd.PermissionError('no rights on images', errno=1)),
    (2, 'clone', rbd.ImageExists('exists', errno=17)),
    (2, 'create_snap snap', rbd.PermissionError('no rights', errno=1)),
    (2, 'protect_snap snap', rbd.ReadOnlyImage('read only', errno=30)),
    (1, 'protect_snap cms-upload-' + IMAGE_ID,
     rbd.PermissionError('no rights', errno=1)),
    (1, 'flatten', rbd.IOError('flatten failed', errno=5)),
    (1, 'create_snap snap', rbd.PermissionError('no rights', errno=1)),
])
def test_a_refused_step_leaves_nothing(clone_format, step, error):
    ceph = FakeCeph(clone_format)
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


def test_the_operator_may_flatten_the_image_of_a_volume_from_a_base_image(
        ceph):
    """``flatten_clones_of_base_images = true``: the image of a volume made
    from a base image does not keep the base image; it is flattened before
    Glance knows it.
    """
    base = ceph.add(IMAGES, 'base')
    base['snaps']['snap'] = {'id': ceph.snap_id(), 'protected': True,
                             'trash': None}
    ceph.pools[VOLUMES][VOLUME]['parent'] = (IMAGES, base['id'],
                                             base['snaps']['snap']['id'])
    way = rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES,
                                 IMAGES, IMAGE_ID, flatten_base_images=True)
    assert way == rbd_clone.FLATTENED_CLONE % 'images/base'
    assert ceph.pools[IMAGES][IMAGE_ID]['parent'] is None
    assert ceph.volume_snaps() == {}


def _made_from(ceph, pool, name, snap):
    """The volume is a clone of ``pool/name@snap``."""
    parent = ceph.add(pool, name)
    parent['snaps'][snap] = {'id': ceph.snap_id(), 'protected': True,
                             'trash': None}
    ceph.pools[VOLUMES][VOLUME]['parent'] = (pool, parent['id'],
                                             parent['snaps'][snap]['id'])


def test_the_image_of_a_volume_from_a_base_image_keeps_the_chain(ceph):
    """By default (``flatten_clones_of_base_images = false``) the image of
    a volume made from a base image stays a copy-on-write clone of the
    volume; the volume waits in the trash while the image lives, so the
    base image stays in use until then.
    """
    _made_from(ceph, IMAGES, 'base', 'snap')
    way = _clone(ceph)
    assert way == rbd_clone.COPY_ON_WRITE_CHAIN % 'images/base'
    volume = ceph.pools[VOLUMES][VOLUME]
    [trashed] = volume['snaps'].values()
    assert ceph.pools[IMAGES][IMAGE_ID]['parent'] == (
        VOLUMES, volume['id'], trashed['id'])
    assert _release(ceph) == ['images/' + IMAGE_ID]
    rbd_clone.trash_volume(ceph.module(), VOLUMES, VOLUME)
    assert _purge(ceph) == []  # the image still reads from it
    ceph.delete_image()
    assert _purge(ceph) == [VOLUME]
    assert list(ceph.pools[IMAGES]) == ['base']


def test_a_chain_deeper_than_cinders_clone_depth_is_flattened(ceph):
    """base image <- volume <- image <- volume (this one): with
    ``rbd_max_clone_depth`` 2 the new image would make the chain deeper:
    flattened, and the INFO line says why.
    """
    base = ceph.add(IMAGES, 'base')
    base['snaps']['snap'] = {'id': ceph.snap_id(), 'protected': True,
                             'trash': None}
    first = ceph.add(VOLUMES, 'volume-first',
                     parent=(IMAGES, base['id'], base['snaps']['snap']['id']))
    first['snaps']['upload'] = {'id': ceph.snap_id(), 'protected': False,
                                'trash': None}
    image = ceph.add(IMAGES, 'image-1',
                     parent=(VOLUMES, first['id'],
                             first['snaps']['upload']['id']))
    image['snaps']['snap'] = {'id': ceph.snap_id(), 'protected': True,
                              'trash': None}
    ceph.pools[VOLUMES][VOLUME]['parent'] = (IMAGES, image['id'],
                                             image['snaps']['snap']['id'])
    way = rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES,
                                 IMAGES, IMAGE_ID, flatten_base_images=False,
                                 max_depth=2)
    assert way == rbd_clone.FLATTENED_DEEP % ('images/image-1', 2)
    assert ceph.pools[IMAGES][IMAGE_ID]['parent'] is None
    # Within the depth the chain is kept.
    ceph.delete_image()
    way = rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES,
                                 IMAGES, IMAGE_ID, flatten_base_images=False,
                                 max_depth=4)
    assert way == rbd_clone.COPY_ON_WRITE_CHAIN % 'images/image-1'


def test_a_volume_from_a_volume_is_flattened_whatever_the_option(ceph):
    """Cinder's own clone parents (``*.clone_snap``) are Cinder's to
    delete: the image never keeps them.
    """
    _made_from(ceph, VOLUMES, 'volume-source', 'volume-source.clone_snap')
    way = rbd_clone.clone_volume(ceph.module(), VOLUMES, VOLUME, IMAGES,
                                 IMAGES, IMAGE_ID, flatten_base_images=False)
    assert way == rbd_clone.FLATTENED_CLONE % 'volumes/volume-source'
    assert ceph.pools[IMAGES][IMAGE_ID]['parent'] is None
    assert ceph.volume_snaps() == {}


def _release(ceph):
    return rbd_clone.release_volume(ceph.module(), VOLUMES, VOLUME)


def _purge(ceph):
    return rbd_clone.purge_parents(ceph.module(), VOLUMES, VOLUMES)


def test_image_deleted_first_then_the_volume_has_no_snapshot_left(ceph):
    _clone(ceph)
    ceph.delete_image()
    assert _release(ceph) == []
    assert ceph.volume_snaps() == {}
    ceph.module().RBD().remove(VOLUMES, VOLUME)  # Cinder's own deletion
    assert ceph.pools == {VOLUMES: {}, IMAGES: {}}


def test_volume_deleted_first_waits_in_the_trash_for_its_image(ceph):
    _clone(ceph)
    module = ceph.module()
    assert _release(ceph) == ['images/' + IMAGE_ID]
    assert rbd_clone.only_upload_snapshots(module, VOLUMES, VOLUME)
    rbd_clone.trash_volume(module, VOLUMES, VOLUME)
    assert ceph.pools[VOLUMES] == {}
    assert _purge(ceph) == []  # the image still reads from it
    assert len(ceph.trash[VOLUMES]) == 1
    ceph.delete_image()
    assert _purge(ceph) == [VOLUME]
    assert ceph.trash[VOLUMES] == {} and ceph.pools[IMAGES] == {}


def test_two_images_of_one_volume_keep_it_until_both_are_gone(ceph):
    module = ceph.module()
    _clone(ceph)
    other = IMAGE_ID.replace('7f', '8e')
    rbd_clone.clone_volume(module, VOLUMES, VOLUME, IMAGES, IMAGES, other)
    assert sorted(_release(ceph)) == sorted(['images/' + IMAGE_ID,
                                             'images/' + other])
    rbd_clone.trash_volume(module, VOLUMES, VOLUME)
    ceph.delete_image()
    assert _purge(ceph) == []
    [kept] = ceph.trash[VOLUMES].values()
    assert [s['trash'] for s in kept['snaps'].values()] == [
        'cms-upload-' + other]
    ceph.delete_image(other)
    assert _purge(ceph) == [VOLUME]


def test_a_volume_with_a_user_snapshot_is_left_to_cinder(ceph):
    _clone(ceph)
    module = ceph.module()
    with module.Image(VOLUMES, VOLUME) as volume:
        volume.create_snap('snapshot-1')
    assert _release(ceph) == ['images/' + IMAGE_ID]
    assert not rbd_clone.only_upload_snapshots(module, VOLUMES, VOLUME)


def test_purge_leaves_what_it_did_not_keep(ceph):
    module = ceph.module()
    ceph.add(VOLUMES, 'volume-2')
    module.RBD().trash_move(VOLUMES, 'volume-2')  # Cinder's deferred delete
    ceph.add(VOLUMES, 'volume-3.deleted')
    with module.Image(VOLUMES, 'volume-3.deleted') as volume:
        volume.create_snap('volume-4.clone_snap')
    ceph.add(VOLUMES, 'volume-5.deleted')  # no snapshot, but not kept
    assert _purge(ceph) == []
    assert len(ceph.trash[VOLUMES]) == 1
    assert {'volume-3.deleted', 'volume-5.deleted'} <= set(
        ceph.pools[VOLUMES])


def test_purge_removes_a_cinder_deleted_volume_kept_for_an_image(ceph):
    """A volume with a Cinder clone and an image: Cinder renames it
    ``*.deleted``, removes the clone's snapshot when the clone goes, but
    keeps the volume (the upload snapshot is still listed): purged once
    the image is deleted.
    """
    _clone(ceph)
    assert _release(ceph)
    record = ceph.pools[VOLUMES].pop(VOLUME)
    ceph.pools[VOLUMES][VOLUME + '.deleted'] = record
    assert _purge(ceph) == []
    ceph.delete_image()
    assert _purge(ceph) == [VOLUME + '.deleted']
    assert ceph.pools[VOLUMES] == {}


def test_purge_without_a_listable_trash_still_purges_deleted_volumes(
        ceph, caplog):
    _clone(ceph)
    assert _release(ceph)
    record = ceph.pools[VOLUMES].pop(VOLUME)
    ceph.pools[VOLUMES][VOLUME + '.deleted'] = record
    ceph.delete_image()
    # NOTE: python3-rbd 16 raises IndexError on a USER_PARENT entry.
    ceph.fail['trash_list'] = IndexError('list index out of range')
    assert _purge(ceph) == [VOLUME + '.deleted']
    assert 'rbd trash purge volumes' in caplog.text


def test_a_refused_purge_is_logged_and_the_next_goes_on(ceph, caplog):
    _clone(ceph)
    module = ceph.module()
    assert _release(ceph)
    rbd_clone.trash_volume(module, VOLUMES, VOLUME)
    ceph.delete_image()
    ceph.fail['trash_remove'] = rbd.IOError('osd down', errno=5)
    assert _purge(ceph) == []
    assert 'Could not purge volume %s' % VOLUME in caplog.text
    assert _purge(ceph) == [VOLUME]
