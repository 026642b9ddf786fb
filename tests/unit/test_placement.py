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

"""The placement rules, exhaustively and by property."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from cinder_multistore import placement
from cinder_multistore.placement import BaseImage
from cinder_multistore.placement import Catalog
from cinder_multistore.placement import Rule
from cinder_multistore.placement import StoreInfo


CATALOG = Catalog((StoreInfo('alpha'), StoreInfo('beta'), StoreInfo('gamma'),
                   StoreInfo('web', read_only=True),
                   StoreInfo('os_glance_staging_store'),
                   StoreInfo('os_glance_tasks_store')), default='alpha')
BASE_ID = str(uuid.uuid4())
TWO_STORE_BASE = BaseImage(BASE_ID, 'active', ('gamma', 'beta'))

store_ids = st.sampled_from(['alpha', 'beta', 'gamma', 'web',
                             'os_glance_staging_store',
                             'os_glance_tasks_store', 'nope', 'os_glance_x',
                             '', ' ', 'bad/id', 'x' * 300]) | st.text()
header_values = st.none() | store_ids
base_refs = st.none() | st.just(BASE_ID) | st.text() | st.uuids().map(str)
statuses = st.sampled_from(['active', 'queued', 'saving', 'deactivated',
                            'killed', 'deleted', 'importing'])
catalog_ids = st.sampled_from([s.id for s in CATALOG.stores] + ['other'])
base_images = st.none() | st.builds(
    BaseImage, id=st.just(BASE_ID), status=statuses,
    stores=st.lists(catalog_ids, max_size=5).map(tuple))


def test_explicit_store_wins_over_base():
    decision = placement.decide_upload('beta', BASE_ID, CATALOG,
                                       TWO_STORE_BASE)
    assert decision.rule is Rule.EXPLICIT_STORE
    assert decision.stores == ('beta',)


def test_colocation_follows_catalog_order():
    decision = placement.decide_upload(None, BASE_ID, CATALOG, TWO_STORE_BASE)
    assert decision.rule is Rule.COLOCATE
    assert decision.stores == ('beta', 'gamma')
    assert decision.primary == 'beta'
    assert decision.secondaries == ('gamma',)


def test_colocation_skips_unusable_stores():
    base = BaseImage(BASE_ID, 'active', ('web', 'os_glance_staging_store',
                                         'gamma', 'gone'))
    decision = placement.decide_upload(None, BASE_ID, CATALOG, base)
    assert decision.stores == ('gamma',)


def test_no_headers_default_store():
    decision = placement.decide_upload(None, None, CATALOG, None)
    assert decision.rule is Rule.DEFAULT
    assert decision.stores == ('alpha',)


def test_missing_or_invisible_base_is_default():
    decision = placement.decide_upload(None, BASE_ID, CATALOG, None)
    assert decision.rule is Rule.DEFAULT
    assert 'not found' in decision.reason


def test_inactive_base_is_default():
    base = BaseImage(BASE_ID, 'deactivated', ('beta', 'gamma'))
    decision = placement.decide_upload(None, BASE_ID, CATALOG, base)
    assert decision.rule is Rule.DEFAULT


def test_base_without_usable_store_is_default():
    base = BaseImage(BASE_ID, 'active', ('web', 'gone'))
    assert placement.decide_upload(None, BASE_ID, CATALOG,
                                   base).rule is Rule.DEFAULT


def test_malformed_base_ref_is_default_even_if_lookup_given():
    decision = placement.decide_upload(None, 'not-a-uuid', CATALOG,
                                       TWO_STORE_BASE)
    assert decision.rule is Rule.DEFAULT


def test_rejections_name_the_store():
    cases = {'os_glance_staging_store': placement.StoreProblem.RESERVED,
             'os_glance_tasks_store': placement.StoreProblem.RESERVED,
             'nope': placement.StoreProblem.UNKNOWN,
             'web': placement.StoreProblem.READ_ONLY,
             'bad/id': placement.StoreProblem.MALFORMED}
    for store, problem in cases.items():
        decision = placement.decide_upload(store, BASE_ID, CATALOG,
                                           TWO_STORE_BASE)
        assert decision.rejected
        assert decision.problem is problem
        assert decision.stores == ()
        assert repr(store) in decision.reason


def test_import_body_stores_validated_each():
    decision = placement.decide_import(None, ['beta', 'os_glance_tasks_store'],
                                       False, None, CATALOG, None)
    assert decision.rejected
    assert decision.rejected_store == 'os_glance_tasks_store'
    decision = placement.decide_import(None, ['gamma', 'beta', 'gamma'],
                                       False, None, CATALOG, None)
    assert decision.stores == ('gamma', 'beta')


def test_import_all_stores_only_usable():
    decision = placement.decide_import(None, None, True, None, CATALOG, None)
    assert decision.stores == ('alpha', 'beta', 'gamma')


def test_import_without_stores_uses_upload_rules():
    decision = placement.decide_import(None, None, False, BASE_ID, CATALOG,
                                       TWO_STORE_BASE)
    assert decision.rule is Rule.COLOCATE
    decision = placement.decide_import('nope', None, False, None, CATALOG,
                                       None)
    assert decision.rejected


def test_choose_headers_precedence():
    assert placement.choose_headers('beta', BASE_ID) == {
        placement.STORE_HEADER: 'beta'}
    assert placement.choose_headers(None, BASE_ID) == {
        placement.BASE_IMAGE_HEADER: BASE_ID}
    assert placement.choose_headers('  ', '') == {}
    assert placement.choose_headers(None, None) == {}


def test_catalog_from_listing():
    catalog = placement.catalog_from_listing([
        {'id': 'a', 'description': 'A'},
        {'id': 'b', 'default': True},
        {'id': 'h', 'read-only': 'true'},
        {'id': 'os_glance_staging_store'}])
    assert catalog.default == 'b'
    assert catalog.usable_ids() == ('a', 'b')


def test_base_lookup_needed():
    assert placement.base_lookup_needed(None, BASE_ID) == BASE_ID
    assert placement.base_lookup_needed('beta', BASE_ID) is None
    assert placement.base_lookup_needed(None, 'junk') is None
    assert placement.base_lookup_needed('', BASE_ID.upper()) == BASE_ID


@given(store=header_values, base_ref=base_refs, base=base_images)
def test_upload_properties(store, base_ref, base):
    decision = placement.decide_upload(store, base_ref, CATALOG, base)
    usable = set(CATALOG.usable_ids())
    named = placement.normalize_header(store)
    if decision.rejected:
        assert named is not None
        assert decision.stores == ()
        assert decision.rejected_store == named
        assert named not in usable
        return
    # Whatever is written goes only to usable stores, never duplicated.
    assert decision.stores
    assert set(decision.stores) <= usable
    assert len(set(decision.stores)) == len(decision.stores)
    if named is not None:
        assert decision.stores == (named,)
        assert decision.rule is Rule.EXPLICIT_STORE
    elif decision.rule is Rule.COLOCATE:
        assert base is not None and base.status == 'active'
        assert placement.parse_base_ref(base_ref) is not None
        assert set(decision.stores) == set(base.stores) & usable
        order = CATALOG.usable_ids()
        assert list(decision.stores) == sorted(decision.stores,
                                               key=order.index)
    else:
        assert decision.rule is Rule.DEFAULT
        assert decision.stores == (CATALOG.default,)


@given(store=header_values, base_ref=base_refs, base=base_images)
def test_invisible_base_equals_missing_base(store, base_ref, base):
    """A base the caller cannot see (passed as None) reveals nothing."""
    hidden = placement.decide_upload(store, base_ref, CATALOG, None)
    missing = placement.decide_upload(store, str(uuid.uuid4()), CATALOG,
                                      None)
    if placement.normalize_header(store) is None:
        assert hidden.stores == missing.stores
        assert hidden.rule == missing.rule


@given(body=st.none() | st.lists(store_ids, max_size=4),
       all_stores=st.booleans(), store=header_values, base_ref=base_refs,
       base=base_images)
def test_import_properties(body, all_stores, store, base_ref, base):
    decision = placement.decide_import(store, body, all_stores, base_ref,
                                       CATALOG, base)
    if decision.rejected:
        assert decision.rejected_store not in CATALOG.usable_ids()
        return
    assert decision.stores
    assert set(decision.stores) <= set(CATALOG.usable_ids())
    assert not any(s.startswith('os_glance_') for s in decision.stores)


@given(store=st.none() | st.text(), base=st.none() | st.text())
def test_choose_headers_sends_at_most_one(store, base):
    headers = placement.choose_headers(store, base)
    assert len(headers) <= 1
    if placement.normalize_header(store):
        assert headers == {placement.STORE_HEADER: store.strip()}


# --- the site rule (Cinder side, [multistore_image_service] site_store) ---

FSID = '7d7f5a66-4b5e-4d6c-9a7e-0f1e2d3c4b5a'
OTHER_FSID = '00000000-1111-2222-3333-444444444444'


def _rbd(store_id, fsid=FSID, **extra):
    return dict({'id': store_id, 'type': 'rbd',
                 'properties': {'pool': 'images', 'fsid': fsid}}, **extra)


DETAILS = [
    {'id': 'alpha', 'default': True, 'type': 'file',
     'properties': {'data_dir': '/srv/alpha'}},
    _rbd('ceph-central', OTHER_FSID),
    _rbd('ceph-edge'),
]


def test_site_is_the_one_rbd_store_of_the_cluster():
    decision = placement.decide_site(FSID, DETAILS)
    assert decision.rule is Rule.SITE
    assert decision.stores == ('ceph-edge',)
    assert decision.reason == ('store ceph-edge is the rbd store of Glance '
                               'in the volume\'s Ceph cluster %s' % FSID)


def test_site_fsid_is_compared_without_case_or_blanks():
    assert placement.decide_site(' %s ' % FSID.upper(),
                                 DETAILS).stores == ('ceph-edge',)


def test_site_without_a_store_in_the_cluster_is_default():
    decision = placement.decide_site(FSID, DETAILS[:2])
    assert decision.rule is Rule.DEFAULT
    assert decision.stores == ()
    assert 'no writable rbd store' in decision.reason
    assert FSID in decision.reason


def test_site_with_several_stores_in_the_cluster_is_default():
    decision = placement.decide_site(FSID, DETAILS + [_rbd('ceph-edge-2')])
    assert decision.rule is Rule.DEFAULT
    assert '(ceph-edge, ceph-edge-2)' in decision.reason


def test_site_skips_stores_that_cannot_take_data_or_are_not_rbd():
    details = [_rbd('ceph-ro', **{'read-only': 'true'}),
               _rbd('os_glance_staging_store'),
               {'id': 'files', 'type': 'file', 'properties': {'fsid': FSID}},
               {'id': 'bare', 'type': 'rbd'},
               _rbd('ceph-edge')]
    assert placement.cluster_stores(FSID, details) == ('ceph-edge',)


def test_site_unknown_cluster_or_details_is_default_with_the_reason():
    for fsid, details in ((None, DETAILS), (FSID, None), (None, None)):
        decision = placement.decide_site(fsid, details, 'lookup failed')
        assert decision.rule is Rule.DEFAULT
        assert decision.reason == 'Glance\'s default store: lookup failed'


def test_choose_headers_precedence_with_the_site():
    site = 'ceph-edge'
    assert placement.choose_headers('beta', BASE_ID, site, False) == {
        placement.STORE_HEADER: 'beta'}
    assert placement.choose_headers(None, BASE_ID, site, True) == {
        placement.BASE_IMAGE_HEADER: BASE_ID}
    assert placement.choose_headers(None, BASE_ID, site, False) == {
        placement.STORE_HEADER: site}
    assert placement.choose_headers(None, None, site) == {
        placement.STORE_HEADER: site}
    # No site store: the base image is still sent, Glance decides.
    assert placement.choose_headers(None, BASE_ID, None, False) == {
        placement.BASE_IMAGE_HEADER: BASE_ID}
    assert placement.choose_headers(None, None, None) == {}


def test_colocation_stores_are_the_upload_rules_stores():
    assert placement.colocation_stores(TWO_STORE_BASE, CATALOG) == (
        'beta', 'gamma')
    assert placement.colocation_stores(None, CATALOG) == ()
    assert placement.colocation_stores(
        BaseImage(BASE_ID, 'active', ('web',)), CATALOG) == ()


@given(store=st.none() | st.text(), base=st.none() | st.text(),
       site=st.none() | st.text(), base_usable=st.booleans())
def test_choose_headers_with_a_site_sends_at_most_one(store, base, site,
                                                      base_usable):
    headers = placement.choose_headers(store, base, site, base_usable)
    assert len(headers) <= 1
    named = placement.normalize_header(store)
    if named is not None:
        # The site never overrides the volume type's store.
        assert headers == {placement.STORE_HEADER: named}
    elif placement.normalize_header(site) is None:
        # Without a site store, exactly the headers of before.
        assert headers == placement.choose_headers(store, base)


@given(fsid=st.sampled_from([FSID, OTHER_FSID, 'x']),
       details=st.lists(st.sampled_from(DETAILS + [
           _rbd('ceph-edge-2'), _rbd('ro', **{'read-only': 'true'})]),
           max_size=5))
def test_site_names_a_store_only_when_exactly_one_matches(fsid, details):
    decision = placement.decide_site(fsid, details)
    matches = placement.cluster_stores(fsid, details)
    if len(matches) == 1:
        assert decision.rule is Rule.SITE and decision.stores == matches
    else:
        assert decision.rule is Rule.DEFAULT and decision.stores == ()
