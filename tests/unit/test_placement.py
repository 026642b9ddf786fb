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
