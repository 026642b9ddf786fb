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

"""Fixtures of the image driver tests: a local Glance, Cinder's config."""

import pytest

from tests.unit.image import fake_glance


@pytest.fixture
def glance():
    """A fake Glance listening on 127.0.0.1, with three stores."""
    with fake_glance.FakeGlance() as server:
        yield server


@pytest.fixture
def cinder_conf(glance):
    """Cinder's global config pointed at ``glance``; overrides undone after.

    Yields a function ``set(group=None, **options)``.
    """
    from cinder.common import config  # noqa: F401  (Cinder's options)
    from oslo_config import cfg
    from oslo_config import fixture as config_fixture

    from cinder_multistore.image import opts

    opts.register_opts(cfg.CONF)
    fixture = config_fixture.Config(cfg.CONF)
    fixture.setUp()
    fixture.config(glance_api_servers=[glance.url], glance_num_retries=0,
                   auth_strategy='noauth')
    fixture.config(group=opts.GROUP, upload_chunk_size=64 * 1024)
    yield fixture.config
    fixture.cleanUp()


@pytest.fixture
def context():
    """A Cinder request context carrying a token."""
    from cinder import context as cinder_context
    return cinder_context.RequestContext(user_id='user', project_id='project',
                                         auth_token='tok', is_admin=True)
