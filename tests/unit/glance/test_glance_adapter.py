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

"""The Glance adapter's database writes, on Glance's own sqlalchemy db api.

Registering the copies and reverting a required co-location run here on
``glance.db.sqlalchemy.api`` over a SQLite file (Glance's own models and
transaction helpers), with glance_store's delete recorded, with and without
``metadata_encryption_key``.

Glance registers options on the global ``cfg.CONF`` that clash with
Cinder's (``enabled_backends``), so each scenario runs in a subprocess of
its own.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest


KEY = 'k' * 32


def _setup(key):
    from oslo_config import cfg
    from oslo_db import options as db_options

    from glance.common import config  # noqa: F401  (Glance's options)
    from glance import context as glance_context
    from glance.db.sqlalchemy import api as db
    from glance.db.sqlalchemy import models

    folder = tempfile.mkdtemp(prefix='cms-adapter-db-')
    db_options.set_defaults(cfg.CONF, connection='sqlite:///%s/glance.db'
                            % folder)
    cfg.CONF([], project='glance', default_config_files=[])
    if key:
        cfg.CONF.set_override('metadata_encryption_key', key)
    models.register_models(db.get_engine())
    admin = glance_context.RequestContext(is_admin=True, project_id='p1')
    user = glance_context.RequestContext(project_id='p1', roles=['member'])
    return db, admin, user


def _image(db, admin, key, status='active', stores=('alpha',)):
    from glance.common import crypt
    image_id = str(uuid.uuid4())
    urls = ['file:///stores/%s/%s' % (s, image_id) for s in stores]
    db.image_create(admin, {
        'id': image_id, 'status': status, 'size': 10,
        'checksum': 'c' * 32, 'os_hash_algo': 'sha512',
        'os_hash_value': 'h' * 128, 'owner': 'p1', 'visibility': 'private',
        'disk_format': 'raw', 'container_format': 'bare',
        'properties': {'kept': 'yes'},
        'locations': [{'url': crypt.urlsafe_encrypt(key, url) if key
                       else url, 'metadata': {'store': s},
                       'status': 'active'}
                      for s, url in zip(stores, urls)]})
    return image_id, urls


def _plain_locations(db, admin, image_id, key):
    from glance.common import crypt
    image = db.image_get(admin, image_id)
    return [crypt.urlsafe_decrypt(key, loc['url']) if key else loc['url']
            for loc in image['locations']]


def _copy(image_id, store):
    from cinder_multistore.glance import glance_adapter
    return glance_adapter.StoredCopy(
        store, 'file:///stores/%s/%s' % (store, image_id), 10, 'c' * 32,
        's' * 40, {'store': store})


def revert(key):
    """A required co-location reverts an active image."""
    db, admin, user = _setup(key)
    from cinder_multistore.glance import glance_adapter
    image_id, urls = _image(db, admin, key, stores=('alpha', 'beta'))
    seen = []

    def delete(url, store, context=None):
        image = db.image_get(admin, image_id)
        seen.append({'url': url, 'store': store, 'status': image['status'],
                     'locations': len(image['locations'])})
    glance_adapter.glance_store.delete = delete
    adapter = glance_adapter.GlanceAdapter.__new__(
        glance_adapter.GlanceAdapter)
    adapter.revert_upload(user, image_id)
    image = db.image_get(admin, image_id)
    return {'urls': urls, 'status': image['status'],
            'locations': image['locations'], 'size': image['size'],
            'checksum': image['checksum'], 'deletes': seen,
            'props': {p['name']: p['value'] for p in image['properties']
                      if not p['deleted']}}


def register_concurrent_change(key):
    """Another request changes the image while register runs."""
    db, admin, user = _setup(key)
    from cinder_multistore.glance import glance_adapter
    import glance.db
    image_id, urls = _image(db, admin, key)
    real_get_api = glance.db.get_api
    changed = []

    class Racing:
        """Glance's db api; another request writes after the first call."""

        def __getattr__(self, name):
            attr = getattr(db, name)
            if not changed and callable(attr):
                def call(*args, **kwargs):
                    result = attr(*args, **kwargs)
                    if not changed:
                        changed.append(name)
                        db.image_update(admin, image_id, {'properties': {
                            'os_distro': 'debian'}}, purge_props=False)
                        db.image_tag_create(admin, image_id, 'late-tag')
                    return result
                return call
            return attr

    glance.db.get_api = lambda *a, **k: Racing()
    try:
        glance_adapter.GlanceAdapter.register(
            user, image_id, [_copy(image_id, 'beta')])
    finally:
        glance.db.get_api = real_get_api
    image = db.image_get(admin, image_id)
    return {'props': {p['name']: p['value'] for p in image['properties']
                      if not p['deleted']},
            'tags': db.image_tag_get_all(admin, image_id),
            'status': image['status'],
            'locations': _plain_locations(db, admin, image_id, key),
            'stores': [loc['metadata'].get('store')
                       for loc in image['locations']],
            'urls': urls}


def register_on(status, key=None, deleted=False):
    """register on an image that is not (or no longer) active."""
    db, admin, user = _setup(key)
    from cinder_multistore.glance import glance_adapter
    from glance.common import exception as glance_exc
    image_id, urls = _image(db, admin, key)
    if status != 'active':
        db.image_update(admin, image_id, {'status': status})
    if deleted:
        db.image_destroy(admin, image_id)
    error = None
    try:
        glance_adapter.GlanceAdapter.register(
            admin, image_id, [_copy(image_id, 'beta')])
    except glance_exc.GlanceException as exc:
        error = type(exc).__name__
    image = db.image_get(admin, image_id, force_show_deleted=True)
    return {'error': error, 'status': image['status'],
            'rows': len(image['locations'])}


SCENARIOS = {'revert': revert,
             'register_concurrent_change': register_concurrent_change,
             'register_on': register_on}


def _run(name, *args):
    pytest.importorskip('glance')
    out = subprocess.run(
        [sys.executable, __file__, name, json.dumps(args)],
        capture_output=True, text=True, timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize('key', [None, KEY], ids=['plain', 'encrypted'])
def test_revert_leaves_a_queued_image_without_location_or_data(key):
    result = _run('revert', key)
    assert result['status'] == 'queued'
    assert result['locations'] == []
    assert result['size'] is None and result['checksum'] is None
    assert result['props'] == {'kept': 'yes'}
    # The data of every location goes, by its real URL (decrypted as
    # Glance decrypts it), and last: no location points to it any more.
    assert [d['url'] for d in result['deletes']] == result['urls']
    assert [d['store'] for d in result['deletes']] == ['alpha', 'beta']
    assert all(d['status'] == 'queued' and d['locations'] == 0
               for d in result['deletes'])


@pytest.mark.parametrize('key', [None, KEY], ids=['plain', 'encrypted'])
def test_register_keeps_a_change_made_meanwhile(key):
    result = _run('register_concurrent_change', key)
    assert result['props'] == {'kept': 'yes', 'os_distro': 'debian'}
    assert result['tags'] == ['late-tag']
    assert result['status'] == 'active'
    # The copy is added, encrypted in the database when Glance would.
    assert result['stores'] == ['alpha', 'beta']
    assert result['locations'] == result['urls'] + [
        result['urls'][0].replace('/alpha/', '/beta/')]


@pytest.mark.parametrize('status,deleted', [
    ('deleted', False),  # Glance's delete between its two writes
    ('pending_delete', True),  # delayed delete
    ('deleted', True),
    ('deactivated', False),
    ('queued', False),  # a required co-location reverted it
])
def test_register_adds_nothing_to_an_image_no_longer_active(status,
                                                            deleted):
    result = _run('register_on', status, None, deleted)
    assert result['error'] in ('Conflict', 'ImageNotFound', 'NotFound')
    assert result['rows'] == 1, 'only the primary location'
    assert result['status'] == status


if __name__ == '__main__':
    sys.path.insert(0, os.getcwd())
    print(json.dumps(SCENARIOS[sys.argv[1]](*json.loads(sys.argv[2]))))
