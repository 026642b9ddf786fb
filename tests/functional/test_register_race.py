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

"""Registering co-located copies while another request writes the image.

Runs the Glance adapter's ``register`` against the embedded cloud's real
database (MariaDB or PostgreSQL, through Glance's own db api and the
stack's glance-api.conf) while another transaction holds a write on the
same image, the way a concurrent ``PATCH`` or ``DELETE`` of the image does
in glance-api:

* a property set by that transaction is kept, and so are a property and
  a tag committed right after register's first call into the db api (the
  former register read the image then saved it whole, dropping them);
* when that transaction starts Glance's delete (the image leaves
  ``active``), register waits for it, then adds nothing and raises, so the
  filter removes the copies' data.

Glance registers options on the global ``cfg.CONF`` that clash with
Cinder's, so each scenario runs in a subprocess of its own.
"""

import json
import os
import subprocess
import sys
import uuid


HOLD = 1.5


def _scenario(conf, concurrent):
    import threading
    import time

    from cinder_multistore.glance import audit_glance
    from cinder_multistore.glance import glance_adapter
    from glance.common import exception as glance_exc
    from glance import context as glance_context
    from glance.db.sqlalchemy import api as db
    from glance.db.sqlalchemy import models

    audit_glance.load_config([conf])
    admin = glance_context.RequestContext(is_admin=True, project_id='p1')
    image_id = str(uuid.uuid4())
    db.image_create(admin, {
        'id': image_id, 'status': 'active', 'size': 10,
        'checksum': 'c' * 32, 'owner': 'p1', 'visibility': 'private',
        'disk_format': 'raw', 'container_format': 'bare',
        'properties': {'kept': 'yes'},
        'locations': [{'url': 'file:///nowhere/alpha/%s' % image_id,
                       'metadata': {'store': 'alpha'},
                       'status': 'active'}]})
    if concurrent == 'after-read':
        return _after_first_read(admin, db, image_id, glance_adapter,
                                 glance_exc)
    holding = threading.Event()

    def other_request():
        # NOTE: Glance's own write transaction, as on each release
        # (session_for_write from Glance 31, get_session on Glance 30).
        with glance_adapter._write_session(db) as session:
            if concurrent == 'property':
                db._image_update(admin, session, image_id, {
                    'properties': {'os_distro': 'debian'}},
                    purge_props=False)
            else:  # the first write of Glance's image delete
                session.query(models.Image).filter_by(id=image_id).update(
                    {'status': 'deleted'}, synchronize_session=False)
            holding.set()
            time.sleep(HOLD)

    other = threading.Thread(target=other_request)
    other.start()
    holding.wait(30)
    started = time.monotonic()
    copy = _copy(glance_adapter, image_id)
    error = None
    try:
        glance_adapter.GlanceAdapter.register(admin, image_id, [copy])
    except glance_exc.GlanceException as exc:
        error = type(exc).__name__
    waited = time.monotonic() - started
    other.join()
    image = db.image_get(admin, image_id, force_show_deleted=True)
    result = {'error': error, 'waited': waited, 'status': image['status'],
              'stores': [loc['metadata'].get('store')
                         for loc in image['locations']],
              'props': {p['name']: p['value'] for p in image['properties']
                        if not p['deleted']}}
    db.image_destroy(admin, image_id)
    return result


def _copy(glance_adapter, image_id):
    return glance_adapter.StoredCopy(
        'beta', 'file:///nowhere/beta/%s' % image_id, 10, 'c' * 32,
        's' * 40, {'store': 'beta'})


def _after_first_read(admin, db, image_id, glance_adapter, glance_exc):
    """Another request commits a property and a tag right after register's
    first call into Glance's db api.
    """
    import glance.db
    changed = []

    class Racing:
        def __getattr__(self, name):
            attr = getattr(db, name)
            if changed or not callable(attr):
                return attr

            def call(*args, **kwargs):
                result = attr(*args, **kwargs)
                if not changed:
                    changed.append(name)
                    db.image_update(admin, image_id, {'properties': {
                        'os_distro': 'debian'}}, purge_props=False)
                    db.image_tag_create(admin, image_id, 'late-tag')
                return result
            return call

    glance.db.get_api = lambda *a, **k: Racing()
    glance_adapter.GlanceAdapter.register(
        admin, image_id, [_copy(glance_adapter, image_id)])
    image = db.image_get(admin, image_id)
    result = {'error': None, 'status': image['status'],
              'tags': db.image_tag_get_all(admin, image_id),
              'stores': [loc['metadata'].get('store')
                         for loc in image['locations']],
              'props': {p['name']: p['value'] for p in image['properties']
                        if not p['deleted']}}
    db.image_destroy(admin, image_id)
    return result


def _run(stack_env, concurrent):
    out = subprocess.run(
        [sys.executable, __file__, str(stack_env.glance.conf), concurrent],
        capture_output=True, text=True, timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_property_set_meanwhile_is_kept(stack_env):
    result = _run(stack_env, 'property')
    assert result['error'] is None
    assert result['props'] == {'kept': 'yes', 'os_distro': 'debian'}
    assert result['stores'] == ['alpha', 'beta']
    assert result['status'] == 'active'


def test_property_and_tag_set_after_the_first_read_are_kept(stack_env):
    result = _run(stack_env, 'after-read')
    assert result['props'] == {'kept': 'yes', 'os_distro': 'debian'}
    assert result['tags'] == ['late-tag']
    assert result['stores'] == ['alpha', 'beta']


def test_delete_under_way_gets_no_copy(stack_env):
    result = _run(stack_env, 'delete')
    assert result['error'] == 'Conflict'
    # register waited for the other transaction, then saw its outcome.
    assert result['waited'] > HOLD / 2
    assert result['stores'] == ['alpha']
    assert result['status'] == 'deleted'


if __name__ == '__main__':
    sys.path.insert(0, os.getcwd())
    print(json.dumps(_scenario(sys.argv[1], sys.argv[2])))
