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

"""The stores detail cache: per endpoint, for a while, never a failure."""

import pytest

from cinder_multistore.image import store_details


BODY = {'stores': [{'id': 'ceph-edge', 'type': 'rbd',
                    'properties': {'fsid': 'f', 'pool': 'images'}},
                   'junk', {'no': 'id'}]}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Fetch:
    def __init__(self, body=BODY):
        self.body = body
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


def test_entries_keep_only_stores_with_an_id():
    assert [e['id'] for e in store_details.entries(BODY)] == ['ceph-edge']


def test_an_answer_is_reused_until_it_expires():
    clock = Clock()
    cache = store_details.StoreDetailsCache(ttl=60, clock=clock)
    fetch = Fetch()
    for _ in range(3):
        assert cache.get('a', fetch)[0]['id'] == 'ceph-edge'
    assert fetch.calls == 1
    clock.now += 61
    cache.get('a', fetch)
    assert fetch.calls == 2


def test_endpoints_never_share_an_answer():
    cache = store_details.StoreDetailsCache()
    central, edge = Fetch(), Fetch({'stores': []})
    assert cache.get(('servers', ('http://central',)), central)
    assert cache.get(('servers', ('http://edge',)), edge) == []
    assert (central.calls, edge.calls) == (1, 1)


@pytest.mark.parametrize('body', [RuntimeError('403'), {'stores': None}])
def test_failures_are_not_cached(body):
    cache = store_details.StoreDetailsCache()
    with pytest.raises((RuntimeError, ValueError)):
        cache.get('a', Fetch(body))
    good = Fetch()
    assert cache.get('a', good) and good.calls == 1


def test_clear_forgets():
    cache = store_details.StoreDetailsCache()
    fetch = Fetch()
    cache.get('a', fetch)
    cache.clear()
    cache.get('a', fetch)
    assert fetch.calls == 2
