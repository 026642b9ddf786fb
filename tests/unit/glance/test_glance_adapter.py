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

"""The Glance adapter's revert, on Glance's own in-memory DB API.

Reverting a required co-location happens only when a secondary store fails
after the primary was written; this runs it on ``glance.db.simple.api``
(Glance's reference DB implementation) with glance_store's delete recorded.

Glance registers options on the global ``cfg.CONF`` that clash with
Cinder's (``enabled_backends``), so the scenario runs in a subprocess of
its own.
"""

import json
import subprocess
import sys
import uuid

import pytest


def _revert_scenario() -> dict:
    from glance import context as glance_context
    import glance.db
    from glance.db.simple import api as db

    from cinder_multistore.glance import glance_adapter

    glance.db.get_api = lambda *a, **k: db
    context = glance_context.RequestContext(is_admin=True, project_id='p1')
    image_id = str(uuid.uuid4())
    urls = ['file:///stores/%s/%s' % (s, image_id) for s in ('alpha', 'beta')]
    db.image_create(context, {
        'id': image_id, 'status': 'active', 'size': 10,
        'checksum': 'c' * 32, 'os_hash_algo': 'sha512',
        'os_hash_value': 'h' * 128, 'owner': 'p1', 'visibility': 'private',
        'locations': [{'url': url, 'metadata': {'store': url.split('/')[4]},
                       'status': 'active'} for url in urls]})
    seen = []

    def delete(url, store, context=None):
        image = db.image_get(context, image_id)
        seen.append({'url': url, 'status': image['status'],
                     'locations': [loc['url'] for loc in image['locations']]})
    glance_adapter.glance_store.delete = delete
    adapter = glance_adapter.GlanceAdapter.__new__(
        glance_adapter.GlanceAdapter)
    adapter.revert_upload(context, image_id)
    image = db.image_get(context, image_id)
    return {'urls': urls, 'status': image['status'],
            'locations': image['locations'], 'size': image['size'],
            'checksum': image['checksum'], 'deletes': seen}


def test_revert_leaves_a_queued_image_without_location_or_data():
    pytest.importorskip('glance')
    out = subprocess.run([sys.executable, __file__], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result['status'] == 'queued'
    assert result['locations'] == []
    assert result['size'] is None and result['checksum'] is None
    # The data goes last: when it is deleted, no location points to it.
    assert [d['url'] for d in result['deletes']] == result['urls']
    assert all(d['status'] == 'queued' and d['locations'] == []
               for d in result['deletes'])


if __name__ == '__main__':
    print(json.dumps(_revert_scenario()))
