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

"""The upload decisions, for every combination of their inputs."""

import os
import stat
import uuid

from hypothesis import given
from hypothesis import strategies as st
import pytest

from cinder_multistore.image import targets
from cinder_multistore import placement


STORE = placement.STORE_HEADER
BASE = placement.BASE_IMAGE_HEADER
BASE_ID = str(uuid.uuid4())
LISTING = {'stores': [{'id': 'alpha', 'default': True}, {'id': 'beta'},
                      {'id': 'web', 'read-only': 'true'}]}


@pytest.mark.parametrize('store_id, base_ref, expected', [
    ('beta', BASE_ID, {STORE: 'beta'}),
    ('beta', None, {STORE: 'beta'}),
    ('beta', '', {STORE: 'beta'}),
    (' beta ', None, {STORE: 'beta'}),
    (None, BASE_ID, {BASE: BASE_ID}),
    ('', BASE_ID, {BASE: BASE_ID}),
    ('  ', BASE_ID, {BASE: BASE_ID}),
    (None, None, {}),
    ('', '', {}),
    (None, ' ', {}),
])
def test_choose_target_every_combination(store_id, base_ref, expected):
    target = targets.choose_target(store_id, base_ref)
    assert dict(target.headers) == expected
    assert target.store_id == expected.get(STORE)
    assert target.base_image_ref == expected.get(BASE)


def test_reason_says_why_a_store_wins():
    reason = targets.choose_target('beta', BASE_ID).reason
    assert 'beta' in reason and 'image_service:store_id' in reason
    assert BASE_ID in reason and 'not sent' in reason


def test_reason_names_the_base_image():
    reason = targets.choose_target(None, BASE_ID).reason
    assert BASE_ID in reason and 'co-locate' in reason


def test_reason_without_target():
    assert 'default store' in targets.choose_target(None, None).reason


@given(st.none() | st.text(), st.none() | st.text())
def test_at_most_one_header_and_store_wins(store_id, base_ref):
    target = targets.choose_target(store_id, base_ref)
    assert dict(target.headers) == placement.choose_headers(store_id,
                                                            base_ref)
    assert len(target.headers) <= 1
    if placement.normalize_header(store_id) is not None:
        assert BASE not in target.headers


@pytest.mark.parametrize('store_id, problem', [
    ('alpha', None),
    ('beta', None),
    ('web', placement.StoreProblem.READ_ONLY),
    ('gamma', placement.StoreProblem.UNKNOWN),
    ('os_glance_staging_store', placement.StoreProblem.RESERVED),
    ('os_glance_tasks_store', placement.StoreProblem.RESERVED),
    ('bad/id', placement.StoreProblem.MALFORMED),
])
def test_store_rejection(store_id, problem):
    assert targets.store_rejection(store_id, LISTING) is problem


def test_store_rejection_with_an_empty_listing():
    assert (targets.store_rejection('alpha', {})
            is placement.StoreProblem.UNKNOWN)


def test_upload_headers_with_size():
    target = targets.choose_target('beta', BASE_ID)
    assert targets.upload_headers(target, 1234) == {
        'Content-Type': 'application/octet-stream', STORE: 'beta',
        targets.IMAGE_SIZE_HEADER: '1234'}


def test_upload_headers_with_empty_data_send_zero():
    headers = targets.upload_headers(targets.choose_target(None, None), 0)
    assert headers[targets.IMAGE_SIZE_HEADER] == '0'


def test_upload_headers_without_size():
    headers = targets.upload_headers(targets.choose_target(None, BASE_ID),
                                     None)
    assert headers == {'Content-Type': 'application/octet-stream',
                       BASE: BASE_ID}


def test_upload_headers_are_a_new_dict_each_time():
    target = targets.choose_target('beta', None)
    first = targets.upload_headers(target, 1)
    first['x-extra'] = 'y'
    assert 'x-extra' not in targets.upload_headers(target, 1)
    assert dict(target.headers) == {STORE: 'beta'}


@pytest.mark.parametrize('mode, total, position, expected', [
    (stat.S_IFREG, 100, 0, 100),
    (stat.S_IFREG, 100, 40, 60),
    (stat.S_IFREG, 100, 400, 0),
    (stat.S_IFBLK, 0, 0, None),
    (stat.S_IFIFO, 0, 0, None),
    (stat.S_IFCHR, 0, 0, None),
])
def test_remaining_size(mode, total, position, expected):
    assert targets.remaining_size(mode | 0o600, total, position) == expected


def test_remaining_size_of_a_real_file(tmp_path):
    path = tmp_path / 'volume'
    path.write_bytes(b'x' * 10)
    info = os.stat(path)
    assert targets.remaining_size(info.st_mode, info.st_size, 3) == 7


@pytest.mark.parametrize('headers, written, failed', [
    ({}, (), ()),
    ({'X-Image-Stores-Written': 'alpha'}, ('alpha',), ()),
    ({'x-image-stores-written': 'alpha,beta',
      'x-image-stores-failed': 'gamma'}, ('alpha', 'beta'), ('gamma',)),
    ({'X-Image-Stores-Written': 'alpha, beta',
      'X-IMAGE-STORES-FAILED': ' gamma ,delta,'}, ('alpha', 'beta'),
     ('gamma', 'delta')),
    ({'X-Image-Stores-Failed': ''}, (), ()),
])
def test_upload_outcome_reads_the_filters_headers(headers, written, failed):
    outcome = targets.upload_outcome(headers)
    assert outcome.written == written
    assert outcome.failed == failed
    assert outcome.partial is bool(failed)


def test_store_headers_are_the_ones_the_filter_sends():
    from cinder_multistore.glance import middleware
    assert targets.STORES_WRITTEN_HEADER == middleware.WRITTEN_HEADER
    assert targets.STORES_FAILED_HEADER == middleware.FAILED_HEADER


# --- the site rule --------------------------------------------------------

SITE = placement.Decision(placement.Rule.SITE, ('ceph-edge',),
                          'store ceph-edge is the rbd store of Glance in '
                          'the volume\'s Ceph cluster f')
NO_SITE = placement.Decision(placement.Rule.DEFAULT, (),
                             'Glance\'s default store: lookup failed')


@pytest.mark.parametrize('store_id, base_ref, site, usable, expected, rule', [
    ('beta', BASE_ID, SITE, False, {STORE: 'beta'},
     placement.Rule.EXPLICIT_STORE),
    (None, BASE_ID, SITE, True, {BASE: BASE_ID}, placement.Rule.COLOCATE),
    (None, BASE_ID, SITE, False, {STORE: 'ceph-edge'}, placement.Rule.SITE),
    (None, None, SITE, True, {STORE: 'ceph-edge'}, placement.Rule.SITE),
    (None, None, NO_SITE, True, {}, placement.Rule.DEFAULT),
    (None, BASE_ID, NO_SITE, False, {BASE: BASE_ID},
     placement.Rule.COLOCATE),
    (None, None, None, True, {}, placement.Rule.DEFAULT),
])
def test_choose_target_with_the_site(store_id, base_ref, site, usable,
                                     expected, rule):
    target = targets.choose_target(store_id, base_ref, site=site,
                                   base_usable=usable)
    assert dict(target.headers) == expected
    assert target.rule is rule
    if rule is placement.Rule.SITE:
        assert target.reason.endswith(SITE.reason)
    if site is NO_SITE:
        assert NO_SITE.reason in target.reason


def test_reason_says_the_base_image_wins_over_the_site():
    reason = targets.choose_target(None, BASE_ID, site=SITE).reason
    assert 'wins over the volume\'s site' in reason
