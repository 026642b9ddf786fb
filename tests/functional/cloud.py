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

"""Small helpers for functional tests: clients and store inspection."""

import configparser
import functools
import hashlib
import os
import time

from glanceclient import client as glance_client
from keystoneauth1.identity import v3 as ks_identity
from keystoneauth1 import service_token
from keystoneauth1 import session as ks_session

from cinder_multistore.glance import middleware
from cinder_multistore import placement
from cinder_multistore_lab.stack import cinder as stack_cinder
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack import glance as stack_glance
from cinder_multistore_lab import workflow


#: A keystoneauth session for ``OS`` (admin), ``DEMO`` or ``ALT``.
keystone_session = workflow.session_for


class ImageClient:
    """python-glanceclient plus raw requests with custom headers."""

    def __init__(self, env: StackEnv, session: ks_session.Session) -> None:
        self.env = env
        self.session = session
        self.endpoint = env.glance.endpoint.rstrip('/')
        self.glance = glance_client.Client('2', session=session,
                                           endpoint=self.endpoint)

    @classmethod
    def for_user(cls, env: StackEnv, prefix: str) -> 'ImageClient':
        """A client for ``DEMO``, ``ALT`` or ``OS`` (admin)."""
        return cls(env, keystone_session(env, prefix))

    def create(self, name: str = 'cms-test', **kwargs):
        """Create a queued raw/bare image."""
        kwargs.setdefault('disk_format', 'raw')
        kwargs.setdefault('container_format', 'bare')
        return self.glance.images.create(name=name, **kwargs)

    def upload(self, image_id: str, data: bytes, store: str | None = None,
               base: str | None = None, headers: dict | None = None):
        """PUT the data with the placement headers; return the response."""
        sent = {'Content-Type': 'application/octet-stream'}
        if store is not None:
            sent[placement.STORE_HEADER] = store
        if base is not None:
            sent[placement.BASE_IMAGE_HEADER] = base
        sent.update(headers or {})
        return self.session.put('%s/v2/images/%s/file'
                                % (self.endpoint, image_id),
                                data=data, headers=sent, raise_exc=False)

    def stage(self, image_id: str, data: bytes):
        """PUT the data to the staging area (glance-direct)."""
        return self.session.put('%s/v2/images/%s/stage'
                                % (self.endpoint, image_id), data=data,
                                headers={'Content-Type':
                                         'application/octet-stream'},
                                raise_exc=False)

    def import_(self, image_id: str, body: dict,
                headers: dict | None = None):
        """POST an import request; return the response."""
        return self.session.post('%s/v2/images/%s/import'
                                 % (self.endpoint, image_id), json=body,
                                 headers=headers or {}, raise_exc=False)

    def get(self, image_id: str) -> dict:
        """The image as this user sees it."""
        return dict(self.glance.images.get(image_id))

    def wait(self, image_id: str, status: str = 'active',
             stores: int | None = None, timeout: float = 120) -> dict:
        """Wait until the image has ``status`` (and that many stores)."""
        deadline = time.monotonic() + timeout
        while True:
            image = self.get(image_id)
            ok = image['status'] == status
            if ok and stores is not None:
                ok = len(stores_of(image)) >= stores
            if ok:
                return image
            if image['status'] in ('killed', 'deleted') or \
                    time.monotonic() > deadline:
                raise AssertionError('image %s is %s, not %s: %s'
                                     % (image_id, image['status'], status,
                                        image))
            time.sleep(0.3)

    def image_in(self, data: bytes, stores: list[str]) -> dict:
        """Create an active image whose data lives in ``stores``."""
        image = self.create(name='cms-base')
        resp = self.stage(image.id, data)
        assert resp.status_code == 204, resp.text
        resp = self.import_(image.id, {'method': {'name': 'glance-direct'},
                                       'stores': stores})
        assert resp.status_code == 202, resp.text
        return self.wait(image.id, stores=len(stores))


@functools.cache
def _service_session(conf_file: str, section_name: str) -> ks_session.Session:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(conf_file)
    section = parser[section_name]
    auth = ks_identity.Password(
        auth_url=section['auth_url'], username=section['username'],
        password=section['password'],
        project_name=section['project_name'],
        user_domain_name=section['user_domain_name'],
        project_domain_name=section['project_domain_name'])
    # NOTE: also as the service token: Glance 30 allows the locations API
    # to service_roles:service only.
    return ks_session.Session(auth=service_token.ServiceTokenAuthWrapper(
        user_auth=auth, service_auth=auth))


def service_session(env: StackEnv) -> ks_session.Session:
    """A session as the service user Cinder reads image locations with.

    That is cinder.conf's ``[glance]`` user; a stack without Cinder has
    glance-api's own service user (roles admin and service, like it).
    """
    conf = stack_cinder.conf_path(env.stack.directory)
    if conf.exists():
        return _service_session(str(conf), 'glance')
    return _service_session(
        str(stack_glance.conf_path(env.stack.directory)),
        'keystone_authtoken')


def locations(env: StackEnv, image_id: str) -> list[dict]:
    """An image's locations, ``GET /v2/images/{id}/locations`` as the
    ``[glance]`` service user (glance-api shows them to nobody else).
    """
    resp = service_session(env).get(
        '%s/v2/images/%s/locations' % (env.glance.endpoint.rstrip('/'),
                                       image_id))
    return resp.json()


def stores_of(image: dict) -> list[str]:
    """The stores an image lists, in Glance's order."""
    return [s for s in (image.get('stores') or '').split(',') if s]


def store_files(env: StackEnv, image_id: str) -> dict[str, str]:
    """sha256 of the image's file in every file store that has one."""
    found = {}
    for store, directory in env.glance.store_dirs.items():
        path = os.path.join(directory, image_id)
        if os.path.exists(path):
            with open(path, 'rb') as f:
                found[store] = hashlib.sha256(
                    f.read()).hexdigest()
    return found


def written(resp) -> list[str]:
    """The stores the filter reports as written."""
    value = resp.headers.get(middleware.WRITTEN_HEADER, '')
    return [s for s in value.split(',') if s]


def failed(resp) -> list[str]:
    """The stores the filter reports as failed."""
    value = resp.headers.get(middleware.FAILED_HEADER, '')
    return [s for s in value.split(',') if s]
