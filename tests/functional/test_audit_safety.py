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

"""``cinder-multistore audit`` never takes live data for stray data.

Against the embedded cloud's database and stores:

* a glance-api with ``metadata_encryption_key`` (Glance keeps location
  URLs encrypted in its database): its images, plain and co-located, are
  not stray for an audit with its configuration, and an audit without the
  key refuses to delete; a required co-location that fails there removes
  the primary's data too;
* a file store whose folder the configuration reaches through a symlink;
* a store of which no object matches a location, and a ``--min-age``
  below the time an upload may take to settle: ``--delete`` refuses.
"""

import configparser
import os
from pathlib import Path
import subprocess
import sys
import uuid

import pytest

from cinder_multistore_lab.stack import glance
from tests.functional import cloud
from tests.functional import glance_instances
from tests.functional.test_audit import download
from tests.functional.test_audit import orphan_urls


MiB = 1 << 20
KEY = 'cms-audit-key-0123456789abcdef!!'  # 32 bytes: AES-256
NAME = 'glance-encrypted'
#: What the audit of these tests may delete: only young stray data of
#: their own stores, with the stack's glance-api stopped from nothing.
DELETE = ('--delete', '--min-age', '0', '--no-uploads-running')


def audit_with(conf: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``cinder-multistore audit --config-file conf``."""
    env = dict(os.environ, OS_GLANCE_CONFIG_DIR=os.path.dirname(conf))
    return subprocess.run(
        [sys.executable, '-m', 'cinder_multistore.cmd.cli', 'audit',
         '--config-file', conf, '--json'] + list(args),
        env=env, capture_output=True, text=True, timeout=300)


def report_of(result: subprocess.CompletedProcess) -> dict:
    """The JSON report of an audit run that did not crash."""
    import json
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def file_urls(env, image_id: str, stores) -> set[str]:
    """The file URLs the image's data has in ``stores``."""
    return {'file://%s' % os.path.join(env.glance.store_dir(s), image_id)
            for s in stores}


@pytest.fixture(scope='module')
def encrypted_glance(stack_env, demo):
    """A glance-api with metadata_encryption_key and mandatory
    co-location: a client on it, and its config file.
    """
    endpoint = glance_instances.start(stack_env, NAME, {
        'DEFAULT': {'metadata_encryption_key': KEY},
        'multistore_filter': {'colocation_required': 'true'}})
    return (glance_instances.client_on(demo, endpoint),
            str(glance.conf_path(Path(stack_env.directory), NAME)))


@pytest.fixture
def encrypted(encrypted_glance):
    """The encrypting glance-api, its config, and a list of image ids it
    deletes after the test: the stack's other glance-apis cannot read
    their locations (and audits with their config refuse to delete).
    """
    client, conf = encrypted_glance
    made = []
    yield client, conf, made
    for image_id in made:
        try:
            client.glance.images.delete(image_id)
        except Exception as exc:  # already gone
            print('cleanup of %s: %s' % (image_id, exc))


def test_encrypted_locations_are_not_stray(stack_env, encrypted):
    client, conf, made = encrypted
    plain_data = os.urandom(MiB)
    plain = client.create(name='cms-encrypted-plain')
    made.append(plain.id)
    resp = client.upload(plain.id, plain_data, store='alpha')
    assert resp.status_code == 204, resp.text
    client.wait(plain.id)
    base = client.image_in(os.urandom(4096), ['alpha', 'beta'])
    made.append(base['id'])
    colocated_data = os.urandom(2 * MiB)
    colocated = client.create(name='cms-encrypted-colocated')
    made.append(colocated.id)
    resp = client.upload(colocated.id, colocated_data, base=base['id'])
    assert resp.status_code == 204, resp.text
    assert cloud.written(resp) == ['alpha', 'beta']
    live = (file_urls(stack_env, plain.id, ['alpha'])
            | file_urls(stack_env, base['id'], ['alpha', 'beta'])
            | file_urls(stack_env, colocated.id, ['alpha', 'beta']))
    stores = ('--store', 'alpha', '--store', 'beta')

    report = report_of(audit_with(conf, *stores))
    assert not live & orphan_urls(report), report
    assert not report['warnings'], report

    report = report_of(audit_with(conf, *(stores + DELETE)))
    assert not live & orphan_urls(report), report
    for url in live:
        assert os.path.exists(url[len('file://'):]), url
    assert download(client, plain.id) == plain_data
    assert download(client, colocated.id) == colocated_data
    assert cloud.stores_of(client.get(colocated.id)) == ['alpha', 'beta']

    # The stack's own configuration has no key: it cannot read these
    # locations, says so, and deletes nothing.
    result = audit_with(str(stack_env.glance.conf), *(stores + DELETE))
    assert result.returncode == 2, result.stdout
    report = report_of(result)
    assert 'deleted' not in {o['action'] for o in report['orphans']}
    assert any('metadata_encryption_key' in e for e in report['errors'])
    for url in live:
        assert os.path.exists(url[len('file://'):]), url


def test_failed_required_colocation_removes_the_encrypted_primary(
        stack_env, encrypted):
    client, _conf, made = encrypted
    # delta is a 16 MiB tmpfs: a 24 MiB copy there fails half-way, and
    # the upload is undone, primary (alpha) included.
    base = client.image_in(os.urandom(4096), ['alpha', 'delta'])
    made.append(base['id'])
    image = client.create(name='cms-encrypted-required')
    made.append(image.id)
    resp = client.upload(image.id, os.urandom(24 * MiB), base=base['id'])
    assert resp.status_code == 413, resp.text
    assert cloud.failed(resp) == ['delta']
    reverted = client.get(image.id)
    assert reverted['status'] == 'queued', reverted
    assert cloud.stores_of(reverted) == []
    assert cloud.store_files(stack_env, image.id) == {}


@pytest.fixture
def image_in_alpha(demo):
    """An active image in store alpha, deleted afterwards."""
    data = os.urandom(256 * 1024)
    image = demo.create(name='cms-audit-safety')
    resp = demo.upload(image.id, data, store='alpha')
    assert resp.status_code == 204, resp.text
    demo.wait(image.id)
    yield image.id, data
    demo.glance.images.delete(image.id)


def _conf_with(stack_env, tmp_path, store: str, folder: str) -> str:
    """The stack's glance-api.conf with ``store``'s folder changed."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(stack_env.glance.conf)
    parser[store]['filesystem_store_datadir'] = folder
    path = tmp_path / 'glance-api.conf'
    with open(path, 'w') as f:
        parser.write(f)
    return str(path)


def test_store_folder_reached_through_a_symlink(stack_env, demo, tmp_path,
                                                image_in_alpha):
    image_id, data = image_in_alpha
    link = tmp_path / 'alpha-link'
    link.symlink_to(stack_env.glance.store_dir('alpha'))
    conf = _conf_with(stack_env, tmp_path, 'alpha', str(link))
    stray = link / str(uuid.uuid4())
    stray.write_bytes(b'x' * 1000)
    report = report_of(audit_with(conf, '--store', 'alpha'))
    urls = orphan_urls(report)
    assert 'file://%s/%s' % (link, image_id) not in urls, report
    assert 'file://%s' % stray in urls
    report = report_of(audit_with(conf, '--store', 'alpha', *DELETE))
    assert not stray.exists(), report
    assert download(demo, image_id) == data
    assert cloud.store_files(stack_env, image_id).keys() == {'alpha'}


def test_store_without_a_single_match_is_not_deleted(stack_env, tmp_path):
    folder = tmp_path / 'elsewhere'
    folder.mkdir()
    planted = [folder / str(uuid.uuid4()) for _ in range(2)]
    for path in planted:
        path.write_bytes(b'y' * 100)
    conf = _conf_with(stack_env, tmp_path, 'gamma', str(folder))
    result = audit_with(conf, '--store', 'gamma', *DELETE)
    assert result.returncode == 2, result.stdout
    report = report_of(result)
    assert {o['action'] for o in report['orphans']} == {'kept'}
    assert any('not one object of store gamma' in e
               for e in report['errors'])
    assert all(path.exists() for path in planted)


def test_min_age_below_the_settle_time_is_refused(stack_env):
    result = audit_with(str(stack_env.glance.conf), '--delete',
                        '--min-age', '30')
    assert result.returncode == 2
    assert 'copy_stall_timeout' in result.stderr
    assert '--min-age' in result.stderr and 'or more' in result.stderr
