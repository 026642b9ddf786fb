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

"""The audit's decisions: URL mapping, orphans, age, store selection."""

import functools
import os
import uuid

import pytest

from cinder_multistore.glance import audit
from cinder_multistore.glance import audit_file
from cinder_multistore.glance import audit_glance
from cinder_multistore.glance import audit_model as model
from cinder_multistore.glance import audit_rbd
from cinder_multistore.glance import location_urls


FSID = 'c0ffee00-1111-2222-3333-444455556666'
IMG = str(uuid.UUID(int=1))
OTHER = str(uuid.UUID(int=2))


def _file(store, path, mtime=0.0, size=10):
    name = path.rsplit('/', 1)[-1]
    return model.StoredObject(store, model.file_url(path), name, size, mtime)


def _rbd(store, pool, name, mtime=0.0, fsid=FSID):
    return model.StoredObject(store, model.rbd_url(fsid, pool, name), name,
                              5, mtime)


def _image(image_id, urls, status='active', deleted=False,
           loc_status='active'):
    return {'id': image_id, 'status': status, 'deleted': deleted,
            'locations': [{'url': u, 'status': loc_status} for u in urls]}


# -- URL mapping -----------------------------------------------------------

def test_file_url_is_glance_store_location():
    path = '/srv/alpha/%s' % IMG
    assert model.file_url(path) == 'file://' + path
    assert model.file_url('/srv//alpha/./x') == 'file:///srv/alpha/x'


def test_rbd_url_is_glance_store_location():
    assert model.rbd_url(FSID, 'images', IMG) == (
        'rbd://%s/images/%s/snap' % (FSID, IMG))
    assert model.rbd_url('f', 'my/pool', 'a b') == (
        'rbd://f/my%2Fpool/a%20b/snap')


def test_location_keys():
    assert model.location_key('file:///a//b/c') == ('file', '/a/b/c')
    assert model.location_key('rbd://%s/images/%s/snap' % (FSID, IMG)) == (
        'rbd', FSID, 'images', IMG)
    assert model.location_key('rbd://f/my%2Fpool/a%20b/snap') == (
        'rbd', 'f', 'my/pool', 'a b')
    assert model.location_key('rbd://%s' % IMG) == ('rbd', '', '', IMG)
    assert model.location_key('http://x/y') == ('url', 'http://x/y')
    assert model.location_key('') is None


def test_rbd_key_ignores_the_snapshot_name():
    obj = _rbd('ceph', 'images', IMG)
    keys = audit.referenced_keys([_image(
        IMG, ['rbd://%s/images/%s/other-snap' % (FSID, IMG)])])
    assert audit.is_referenced(obj, audit.References(keys))


def test_rbd_key_needs_the_same_cluster_and_pool():
    keys = audit.referenced_keys([_image(
        IMG, [model.rbd_url(FSID, 'images', IMG)])])
    refs = audit.References(keys, pools={FSID: frozenset({'images',
                                                          'other'})})
    assert not audit.is_referenced(_rbd('c', 'images', IMG, fsid='other'),
                                   refs)
    assert not audit.is_referenced(_rbd('c', 'other', IMG), refs)
    assert audit.is_referenced(_rbd('c', 'images', IMG), refs)


def test_legacy_one_part_rbd_location_protects_every_pool():
    keys = audit.referenced_keys([_image(IMG, ['rbd://%s' % IMG])])
    assert audit.is_referenced(_rbd('c', 'any-pool', IMG, fsid='x'),
                               audit.References(keys))


# -- references ------------------------------------------------------------

def test_references_skip_deleted_images_and_locations():
    rows = [
        _image(IMG, ['file:///s/a/%s' % IMG]),
        _image(OTHER, ['file:///s/a/%s' % OTHER], status='deleted',
               deleted=True, loc_status='deleted'),
        _image('x', ['file:///s/a/gone'], loc_status='deleted'),
        _image('y', ['file:///s/a/weird'], status='deleted', deleted=True),
    ]
    assert audit.referenced_keys(rows) == {('file', '/s/a/%s' % IMG)}


def test_pending_delete_keeps_its_data():
    rows = [_image(IMG, ['file:///s/a/%s' % IMG], status='pending_delete',
                   deleted=True, loc_status='pending_delete')]
    assert audit.referenced_keys(rows) == {('file', '/s/a/%s' % IMG)}


def test_queued_and_saving_images_have_no_references():
    rows = [{'id': IMG, 'status': 'saving', 'deleted': False,
             'locations': []},
            {'id': OTHER, 'status': 'queued', 'deleted': False,
             'locations': None}]
    assert audit.referenced_keys(rows) == frozenset()
    assert audit.image_statuses(rows) == {IMG: 'saving', OTHER: 'queued'}


# -- orphans and age ---------------------------------------------------------

def test_orphans_are_the_unreferenced_objects():
    kept = _file('alpha', '/s/alpha/%s' % IMG)
    stray = _file('beta', '/s/beta/%s' % IMG)
    rbd_kept = _rbd('ceph', 'images', OTHER)
    rbd_stray = _rbd('ceph', 'images', IMG)
    keys = audit.referenced_keys([
        _image(IMG, [kept.url]), _image(OTHER, [rbd_kept.url])])
    assert audit.find_orphans([kept, stray, rbd_kept, rbd_stray],
                              audit.References(keys)) == [
        stray, rbd_stray]


def test_same_image_id_in_another_folder_is_an_orphan():
    keys = audit.referenced_keys([_image(IMG, ['file:///s/alpha/%s' % IMG])])
    assert audit.find_orphans([_file('beta', '/s/beta/%s' % IMG)],
                              audit.References(keys))


@pytest.mark.parametrize('mtime,min_age,expected', [
    (1000.0, 0, True), (1000.0, 60, True), (1000.0, 61, False),
    (1060.0, 0, True), (1070.0, 0, True), (1070.0, 1, False)])
def test_old_enough(mtime, min_age, expected):
    obj = _file('a', '/s/a/%s' % IMG, mtime=mtime)
    assert audit.old_enough(obj, 1060.0, min_age) is expected


def test_age_is_never_negative():
    assert audit.age_of(_file('a', '/x', mtime=10.0), 5.0) == 0.0


def test_to_delete_needs_age_and_no_reference_now():
    old = _file('a', '/s/a/%s' % IMG, mtime=0.0)
    young = _file('a', '/s/a/%s' % OTHER, mtime=990.0)
    registered = _file('b', '/s/b/%s' % IMG, mtime=0.0)
    keys = audit.referenced_keys([_image(IMG, [registered.url])])
    assert audit.to_delete([old, young, registered], audit.References(keys),
                           1000.0, 60) == [
        old]
    assert audit.to_delete([old, young], audit.References(frozenset()),
                           1000.0, 0) == [
        old, young]


def test_describe_carries_age_and_image_status():
    obj = _file('a', '/s/a/%s' % IMG, mtime=100.0)
    (finding,) = audit.describe([obj], {IMG: 'saving'}, 160.0)
    assert (finding.age, finding.image_status) == (60.0, 'saving')
    (finding,) = audit.describe([obj], {}, 160.0)
    assert finding.image_status is None


# -- stores ------------------------------------------------------------------

BACKENDS = {'alpha': 'file', 'ceph': 'rbd', 'web': 'http',
            'os_glance_staging_store': 'file',
            'os_glance_tasks_store': 'file'}


def test_select_skips_reserved_and_unaudited_types():
    chosen, skipped = audit.select_stores(BACKENDS)
    assert chosen == [('alpha', 'file'), ('ceph', 'rbd')]
    assert set(skipped) == {'web', 'os_glance_staging_store',
                            'os_glance_tasks_store'}
    assert 'reserved' in skipped['os_glance_tasks_store']


def test_select_reserved_when_asked():
    chosen, _ = audit.select_stores(BACKENDS, include_reserved=True)
    assert ('os_glance_staging_store', 'file') in chosen
    chosen, skipped = audit.select_stores(
        BACKENDS, wanted=['os_glance_tasks_store'])
    assert chosen == [('os_glance_tasks_store', 'file')]
    assert skipped == {}


def test_select_named_stores_only():
    chosen, _ = audit.select_stores(BACKENDS, wanted=['ceph'])
    assert chosen == [('ceph', 'rbd')]


def test_select_unknown_store_is_an_error():
    with pytest.raises(audit.AuditError, match='nope'):
        audit.select_stores(BACKENDS, wanted=['alpha', 'nope'])


def test_datadirs():
    assert audit_glance.datadirs('/s/a', None) == ['/s/a']
    assert audit_glance.datadirs(
        '/s/a', ['/d/1:100', '/d/2', ' /d/3 : 200', '/d/1']) == [
        '/d/1', '/d/2', '/d/3']
    assert audit_glance.datadirs(None, []) == []


def test_default_config_files_are_glance_apis():
    assert audit.default_config_files({}, lambda p: False) == [
        '/etc/glance/glance-api.conf']
    assert audit.default_config_files(
        {'OS_GLANCE_CONFIG_DIR': '/x/etc '}, lambda p: True) == [
        '/x/etc/glance-image-import.conf', '/x/etc/glance-api.conf']


def test_image_id_names():
    assert audit.looks_like_image_id(IMG)
    assert audit.looks_like_image_id(IMG.upper())
    assert not audit.looks_like_image_id('volume-%s' % IMG)
    assert not audit.looks_like_image_id('lost+found')


# -- report ------------------------------------------------------------------

def _report(*actions, errors=()):
    findings = [audit.Finding(_file('a', '/s/a/%s' % IMG), 5.0, None, a)
                for a in actions]
    return audit.Report(stores=['a'], objects=3, findings=findings,
                        errors=list(errors))


@pytest.mark.parametrize('actions,errors,code', [
    ((), (), 0), (('deleted',), (), 0), (('stray',), (), 1),
    (('deleted', 'kept'), (), 1), (('failed',), (), 2),
    ((), ('store x: cannot list',), 2)])
def test_exit_code(actions, errors, code):
    assert audit.exit_code(_report(*actions, errors=errors)) == code


def test_lines_and_summary():
    report = _report('deleted', 'kept')
    report.findings[1].reason = 'younger than 3600s'
    report.findings[1].image_status = 'saving'
    line = audit.format_finding(report.findings[1])
    assert line.split()[0] == 'a'
    assert 'file:///s/a/%s' % IMG in line and '10 B' in line
    assert 'age 5s' in line and 'image saving' in line
    assert line.endswith('kept: younger than 3600s')
    text = audit.summary(report)
    assert '2 stray' in text and '1 deleted' in text and '1 kept' in text
    assert report.as_dict()['exit_code'] == 1
    assert audit.summary(_report('stray')).count('stray') == 1


@pytest.mark.parametrize('size,text', [
    (0, '0 B'), (1023, '1023 B'), (1536, '1.5 KiB'),
    (64 << 20, '64.0 MiB')])
def test_human_size(size, text):
    assert audit.human_size(size) == text


@pytest.mark.parametrize('seconds,text', [
    (5, '5s'), (65, '1m05s'), (3700, '1h01m'), (3 * 86400 + 7200, '3d02h')])
def test_human_age(seconds, text):
    assert audit.human_age(seconds) == text


# -- file store I/O (a temporary folder) ----------------------------------

def test_list_file_store_lists_regular_files_only(tmp_path):
    (tmp_path / IMG).write_bytes(b'x' * 7)
    (tmp_path / 'sub').mkdir()
    os.symlink(tmp_path / IMG, tmp_path / OTHER)
    config = model.FileStoreConfig('a', (str(tmp_path),))
    (obj,) = audit_file.list_file_store(config)
    assert (obj.store, obj.name, obj.size) == ('a', IMG, 7)
    assert obj.url == 'file://%s/%s' % (tmp_path, IMG)


def test_delete_file_refuses_a_file_written_since_listing(tmp_path):
    path = tmp_path / IMG
    path.write_bytes(b'x')
    (obj,) = audit_file.list_file_store(
        model.FileStoreConfig('a', (str(tmp_path),)))
    with open(path, 'ab') as f:
        f.write(b'more')
    with pytest.raises(audit.AuditError, match='written since'):
        audit_file.delete_file(obj)
    assert path.exists()
    (obj,) = audit_file.list_file_store(
        model.FileStoreConfig('a', (str(tmp_path),)))
    audit_file.delete_file(obj)
    assert not path.exists()


# -- rbd orphans get their size and age after the comparison ---------------

def test_complete_reads_only_rbd_orphans_and_drops_gone(monkeypatch):
    ceph = model.RbdStoreConfig('ceph', '', 'glance', 'images', -1)
    files = model.FileStoreConfig('a', ('/s/a',))
    first = _rbd('ceph', 'images', IMG)
    unknown = [model.StoredObject('ceph', model.rbd_url(FSID, 'images', n),
                                  n, model.UNKNOWN_SIZE, 0.0)
               for n in (IMG, OTHER)]
    listed = _file('a', '/s/a/%s' % OTHER, mtime=5.0)
    asked = []

    def stat_rbd(config, objects):
        objects = list(objects)
        asked.append((config.store, [o.name for o in objects]))
        return [first]  # OTHER was removed in between

    monkeypatch.setattr(audit_rbd, 'stat_rbd', stat_rbd)
    report = audit.Report()
    got = audit._complete([unknown[0], listed, unknown[1]],
                          {'ceph': ceph, 'a': files}, report)
    assert got == [first, listed]
    assert asked == [('ceph', [IMG, OTHER])]
    assert report.errors == []


def test_complete_reports_an_unreachable_cluster(monkeypatch):
    ceph = model.RbdStoreConfig('ceph', '', 'glance', 'images', -1)
    obj = model.StoredObject('ceph', model.rbd_url(FSID, 'images', IMG), IMG,
                             model.UNKNOWN_SIZE, 0.0)

    def stat_rbd(config, objects):
        raise OSError('timed out')

    monkeypatch.setattr(audit_rbd, 'stat_rbd', stat_rbd)
    report = audit.Report()
    assert audit._complete([obj], {'ceph': ceph}, report) == []
    assert report.errors and 'timed out' in report.errors[0]
    assert audit.exit_code(report) == 2


# -- locations as Glance stores them: metadata_encryption_key --------------

KEY = '0123456789abcdef0123456789abcdef'


def _encrypted(url, key=KEY):
    from glance.common import crypt
    return crypt.urlsafe_encrypt(key, url)


def test_encrypted_locations_are_read_as_glance_reads_them():
    pytest.importorskip('glance')
    url = 'file:///s/alpha/%s' % IMG
    rows = [_image(IMG, [_encrypted(url)]),
            _image(OTHER, ['file:///s/alpha/%s' % OTHER])]  # before the key
    read = functools.partial(location_urls.readable, key=KEY)
    keys, unreadable = audit.scan_locations(rows, read)
    assert keys == {('file', '/s/alpha/%s' % IMG),
                    ('file', '/s/alpha/%s' % OTHER)}
    assert unreadable == ()
    # Without the key (or with another one) the audit cannot read them.
    keys, unreadable = audit.scan_locations(rows)
    assert keys == {('file', '/s/alpha/%s' % OTHER)}
    assert unreadable == (IMG,)
    other_key = functools.partial(location_urls.readable, key='x' * 32)
    assert audit.scan_locations(rows, other_key)[1] == (IMG,)


def test_location_url_round_trip_through_glance_crypt():
    pytest.importorskip('glance')
    url = 'rbd://%s/images/%s/snap' % (FSID, IMG)
    stored = location_urls.stored_form(url, KEY)
    assert stored != url and not location_urls.looks_like_url(stored)
    assert location_urls.readable(stored, KEY) == url
    assert location_urls.readable(stored, None) is None
    assert location_urls.stored_form(url, None) == url
    assert location_urls.readable(url, KEY) == url


# -- the same data reached by another path or pool name --------------------

def test_file_reached_through_a_symlinked_folder_is_referenced(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    (real / IMG).write_bytes(b'live')
    (real / OTHER).write_bytes(b'stray')
    link = tmp_path / 'link'
    link.symlink_to(real)
    # Glance recorded the location through the symlink; the store's
    # folder is now configured by its real path.
    keys = audit.referenced_keys([_image(IMG, ['file://%s/%s'
                                               % (link, IMG)])])
    listed = list(audit_file.list_file_store(
        model.FileStoreConfig('alpha', (str(real),))))
    refs = audit.References(keys, audit_file.identities(
        k[1] for k in keys if k[0] == 'file'))
    orphans = audit.find_orphans(listed, refs)
    assert [o.name for o in orphans] == [OTHER]
    # Without identities the live file would look stray.
    assert len(audit.find_orphans(listed, audit.References(keys))) == 2


def test_rbd_location_in_a_renamed_pool_is_referenced():
    keys = audit.referenced_keys([_image(
        IMG, [model.rbd_url(FSID, 'old-name', IMG)]), _image(
        OTHER, [model.rbd_url(FSID, 'volumes', OTHER)])])
    refs = audit.References(keys, pools={FSID: frozenset({'images',
                                                          'volumes'})})
    assert audit.is_referenced(_rbd('ceph', 'images', IMG), refs)
    # A pool the cluster still has is another pool: its own data only.
    assert not audit.is_referenced(_rbd('ceph', 'images', OTHER), refs)


# -- when deleting is refused -----------------------------------------------

def test_stores_without_match():
    a1, a2 = _file('a', '/s/a/%s' % IMG), _file('a', '/s/a/%s' % OTHER)
    b1 = _file('b', '/s/b/%s' % IMG)
    assert audit.stores_without_match([a1, a2, b1], [a1, b1]) == ['b']
    assert audit.stores_without_match([a1, a2], [a1, a2]) == ['a']
    assert audit.stores_without_match([], []) == []


def test_comparison_doubts_name_the_causes():
    doubts = audit.comparison_doubts(['b'], (IMG,), False)
    assert len(doubts) == 2
    assert 'metadata_encryption_key' in doubts[0] and IMG in doubts[0]
    assert 'store b' in doubts[1]
    assert audit.comparison_doubts([], (), True) == []


@pytest.mark.parametrize('min_age,stores,stall,ok', [
    (3600, 6, 60, True), (720, 6, 60, True), (719, 6, 60, False),
    (0, 1, 1, False), (2, 1, 1, True)])
def test_min_age_below_the_settle_time(min_age, stores, stall, ok):
    problem = audit.min_age_problem(min_age, stores, stall)
    assert (problem is None) is ok
    if not ok:
        assert '--min-age %d' % (stores * 2 * stall) in problem


def test_paste_override_of_the_stall_timeout(tmp_path):
    paste = tmp_path / 'glance-api-paste.ini'
    paste.write_text('[filter:context]\npaste.filter_factory = x:y\n'
                     'copy_stall_timeout = 1\n'
                     '[filter:multistore]\npaste.filter_factory = '
                     'cinder_multistore.glance.middleware:MultiStoreFilter.'
                     'factory\ncopy_stall_timeout = 300\n')
    assert audit_glance._paste_value(str(paste),
                                     'copy_stall_timeout') == '300'
    assert audit_glance._paste_value(str(paste), 'other') is None


class _Conf:
    """Stands in for glance-api's loaded configuration."""


def _fake_glance(monkeypatch, tmp_path, rows, key):
    monkeypatch.setattr(audit_glance, 'load_config', lambda *a: _Conf())
    monkeypatch.setattr(audit_glance, 'backends_of',
                        lambda conf: {'alpha': 'file'})
    monkeypatch.setattr(audit_glance, 'file_store_config',
                        lambda conf, store: model.FileStoreConfig(
                            store, (str(tmp_path),)))
    monkeypatch.setattr(audit_glance, 'encryption_key', lambda conf: key)
    monkeypatch.setattr(audit_glance, 'image_rows', lambda: iter(rows))
    monkeypatch.setattr(audit_glance, 'writable_stores',
                        lambda conf: ['alpha', 'beta', 'gamma'])
    monkeypatch.setattr(audit_glance, 'copy_stall_timeout', lambda conf: 60)


def _options(**kwargs):
    kwargs.setdefault('delete', True)
    kwargs.setdefault('min_age', 0)
    kwargs.setdefault('no_uploads_running', True)
    return audit.Options(('glance-api.conf',), **kwargs)


@pytest.mark.parametrize('key', [KEY, None], ids=['key', 'no-key'])
def test_run_never_deletes_images_whose_locations_are_encrypted(
        monkeypatch, tmp_path, key):
    pytest.importorskip('glance')
    old = os.path.getmtime(tmp_path) - 7200
    for name in (IMG, OTHER):
        (tmp_path / name).write_bytes(b'live')
        os.utime(tmp_path / name, (old, old))
    rows = [_image(n, [_encrypted('file://%s/%s' % (tmp_path, n))])
            for n in (IMG, OTHER)]
    _fake_glance(monkeypatch, tmp_path, rows, key)
    report = audit.run(_options())
    assert (tmp_path / IMG).exists() and (tmp_path / OTHER).exists()
    if key:
        assert report.findings == [] and audit.exit_code(report) == 0
    else:
        # The glance-api that wrote them has a key this config lacks.
        assert {f.action for f in report.findings} == {'kept'}
        assert audit.exit_code(report) == 2
        assert any('metadata_encryption_key' in e for e in report.errors)
        assert any('not one object of store alpha' in e
                   for e in report.errors)


def test_run_refuses_a_min_age_below_the_settle_time(monkeypatch, tmp_path):
    _fake_glance(monkeypatch, tmp_path, [], None)
    with pytest.raises(audit.AuditError, match='--min-age 360 or more'):
        audit.run(_options(min_age=300, no_uploads_running=False))
    assert audit.run(_options(min_age=360, no_uploads_running=False))
    assert audit.run(_options(min_age=0, delete=False,
                              no_uploads_running=False))


def test_run_reports_doubts_as_warnings_without_delete(monkeypatch,
                                                       tmp_path):
    (tmp_path / IMG).write_bytes(b'x')
    _fake_glance(monkeypatch, tmp_path, [], None)
    report = audit.run(_options(delete=False))
    assert [f.action for f in report.findings] == ['stray']
    assert report.errors == [] and len(report.warnings) == 1
    assert audit.exit_code(report) == 1
    assert (tmp_path / IMG).exists()
