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

"""Glance's stores detail, cached per Glance endpoint.

``GET /v2/info/stores/detail`` changes only when an operator changes
glance-api's configuration, and the site rule (and the zero-copy upload)
read it on every upload; so answers are kept for :data:`TTL` seconds,
each under the Glance endpoint that gave it, never shared between two
endpoints (an edge glance-api knows other stores than the central one).
Failures are never cached.
"""

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
import threading
import time
from typing import cast

from cinder_multistore import placement


#: Seconds an answer is reused. NOTE: short enough that a store added to
#: glance-api is used within minutes without restarting cinder-volume.
TTL = 300.0


def entries(body: Mapping[str, object]) -> list[placement.StoreDetailEntry]:
    """The store entries of a ``GET /v2/info/stores/detail`` body."""
    stores = body.get('stores')
    if not isinstance(stores, list):
        raise ValueError('Glance\'s stores detail has no "stores" list')
    return [cast(placement.StoreDetailEntry, entry) for entry in stores
            if isinstance(entry, dict) and isinstance(entry.get('id'), str)]


class StoreDetailsCache:
    """Answers of ``GET /v2/info/stores/detail``, per endpoint.

    :param ttl: seconds an answer is reused.
    :param clock: a monotonic clock (tests pass their own).
    """

    def __init__(self, ttl: float = TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[Hashable, tuple[
            float, list[placement.StoreDetailEntry]]] = {}

    def get(self, endpoint: Hashable,
            fetch: Callable[[], Mapping[str, object]]
            ) -> Sequence[placement.StoreDetailEntry]:
        """The stores detail of ``endpoint``, fetched when not fresh.

        :param endpoint: what identifies the Glance endpoint asked.
        :param fetch: reads the body of the detail from that endpoint;
            its exceptions propagate and nothing is cached.
        """
        now = self._clock()
        with self._lock:
            cached = self._answers.get(endpoint)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        fresh = entries(fetch())
        with self._lock:
            self._answers[endpoint] = (now, fresh)
        return fresh

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()
