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

"""Image locations read and added as Cinder's ``[glance]`` service user.

Cinder's RBD driver clones a volume from an image only when it can see the
image's ``rbd://`` locations. Cinder 27 and later read them with Glance's
``GET /v2/images/{id}/locations`` (Glance 2024.2+, policy
``fetch_image_location``: role ``service``) as the user of cinder.conf's
``[glance]`` keystone auth section. Cinder 26 (2025.1) only reads the
image's own ``direct_url`` and ``locations`` fields, which Glance shows
only with ``show_image_direct_url`` / ``show_multiple_locations``: options
that show every user where an image lives (OSSN-0065, OSSN-0090).

:func:`read` makes that same request for the Cinders that do not, so a
Cinder 26 with cinder-multistore's image service clones without those
options. :func:`add` and :func:`copy_image` are the zero-copy upload's
requests (``POST /v2/images/{id}/locations`` and the ``copy-image``
import), as the same user, for a Cinder whose Glance client has no
privileged user. :func:`cinder_reads_locations` tells the two apart by what
Cinder's code takes, never by its release number.
"""

from collections.abc import Iterable
import functools
import inspect
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import service_token
from keystoneauth1 import session as ks_session
from oslo_config import cfg
from oslo_log import log as logging


LOG = logging.getLogger(__name__)

#: cinder.conf's section of the privileged user that reads locations.
GROUP = 'glance'

#: One location as Cinder's image service hands it to a volume driver.
Location = dict[str, Any]

_sessions: dict[str, ks_session.Session] = {}
_auths: dict[str, Any] = {}


class NotReadable(Exception):
    """Glance's locations API could not be used; the reason is the text."""


#: The name the error has for the requests that write.
Refused = NotReadable


@functools.cache
def _takes_privileged_user(function: Any) -> bool:
    return 'privileged_user' in inspect.signature(function).parameters


def cinder_reads_locations(glance_module: Any) -> bool:
    """Whether Cinder's own image service reads locations as the
    ``[glance]`` service user (Cinder 27 and later).

    Cinder added ``privileged_user`` to ``GlanceClientWrapper``'s client
    factories together with the ``get_image_locations`` call of its
    ``get_location``.

    :param glance_module: ``cinder.image.glance``.
    """
    factory = glance_module.GlanceClientWrapper._create_onetime_client
    return _takes_privileged_user(getattr(factory, '__func__', factory))


def register_auth_opts(conf: cfg.ConfigOpts) -> None:
    """Register keystoneauth's ``[glance]`` auth options (``auth_type``,
    ``auth_section``); Cinder 27+ registers the same ones itself.
    """
    ks_loading.register_auth_conf_options(conf, GROUP)


def _auth(conf: cfg.ConfigOpts) -> Any:
    """The ``[glance]`` auth plugin, or None without ``auth_type``."""
    register_auth_opts(conf)
    if not conf[GROUP].auth_type:
        return None
    key = str(conf[GROUP].auth_type)
    if key not in _auths:
        auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
        if auth is None:
            return None
        # NOTE: the same user also as the service token: Glance 30 allows
        # the request to service_roles:service (the X-Service-Token's
        # roles), later Glances to role:service or role:admin.
        _auths[key] = service_token.ServiceTokenAuthWrapper(
            user_auth=auth, service_auth=auth)
    return _auths[key]


def _session(conf: cfg.ConfigOpts) -> ks_session.Session:
    """One keystoneauth session, with Cinder's TLS options for Glance."""
    if 'glance' not in _sessions:
        verify: bool | str = not conf.glance_api_insecure
        if verify and conf.glance_ca_certificates_file:
            verify = conf.glance_ca_certificates_file
        cert: str | tuple[str, str] | None = conf.glance_certfile
        if cert and conf.glance_keyfile:
            cert = (conf.glance_certfile, conf.glance_keyfile)
        _sessions['glance'] = ks_session.Session(
            verify=verify, cert=cert, timeout=conf.glance_request_timeout)
    return _sessions['glance']


def reset() -> None:
    """Forget the cached session and auth plugin (config changed)."""
    _sessions.clear()
    _auths.clear()


def _servers(api_servers: Iterable[tuple[str, bool]]
             ) -> list[tuple[str, bool]]:
    """Each of Cinder's Glance servers once (Cinder's iterator cycles)."""
    seen: list[tuple[str, bool]] = []
    for server in api_servers:
        if server in seen:
            break
        seen.append(server)
    return seen


def _request(conf: cfg.ConfigOpts, api_servers: Iterable[tuple[str, bool]],
             method: str, path: str, ok: tuple[int, ...],
             body: Any = None) -> Any:
    """``method path`` on the first of Cinder's Glance servers that
    answers, as the ``[glance]`` user.

    :raises NotReadable: without a ``[glance]`` auth section, when Glance
        answers anything but ``ok``, or when no server can be reached.
    """
    auth = _auth(conf)
    if auth is None:
        raise NotReadable('cinder.conf has no [glance] auth_type (a '
                          'keystone user with the service role)')
    reasons = []
    for netloc, use_ssl in _servers(api_servers):
        url = '%s://%s%s' % ('https' if use_ssl else 'http', netloc, path)
        try:
            resp = _session(conf).request(url, method, auth=auth, json=body,
                                          raise_exc=False)
        except ks_exceptions.ClientException as exc:
            LOG.debug('%s %s failed', method, url, exc_info=True)
            reasons.append('%s: %s' % (netloc, exc))
            continue
        if resp.status_code not in ok:
            raise NotReadable('%s %s answered %s'
                              % (method, url, resp.status_code))
        return resp
    raise NotReadable('Glance could not be reached (%s)'
                      % ('; '.join(reasons) or 'no server'))


def read(conf: cfg.ConfigOpts, api_servers: Iterable[tuple[str, bool]],
         image_id: str) -> list[Location]:
    """``GET /v2/images/{image_id}/locations`` as the ``[glance]`` user.

    :param conf: Cinder's configuration.
    :param api_servers: ``(netloc, use_ssl)`` pairs, as Cinder's
        ``cinder.image.glance.get_api_servers`` yields them; tried in turn
        while a server cannot be reached.
    :param image_id: the image.
    :returns: the locations, each ``{'url': ..., 'metadata': {...}}``.
    :raises NotReadable: when there is no ``[glance]`` auth section, or
        Glance refuses (403: no ``service`` role; 404: the user cannot see
        the image; 404/501 on a Glance before 2024.2) or cannot be reached.
    """
    resp = _request(conf, api_servers, 'GET',
                    '/v2/images/%s/locations' % image_id, (200,))
    return [{'url': loc.get('url'), 'metadata': loc.get('metadata') or {}}
            for loc in resp.json() if isinstance(loc, dict)]


def add(conf: cfg.ConfigOpts, api_servers: Iterable[tuple[str, bool]],
        image_id: str, url: str) -> None:
    """``POST /v2/images/{image_id}/locations`` of ``url`` as the
    ``[glance]`` user (the image goes ``active``; Glance hashes the data
    in the background).

    :raises Refused: as :func:`read`; 409 when the image is not queued.
    """
    _request(conf, api_servers, 'POST', '/v2/images/%s/locations' % image_id,
             (200, 202, 204), {'url': url, 'validation_data': {}})


def copy_image(conf: cfg.ConfigOpts, api_servers: Iterable[tuple[str, bool]],
               image_id: str, stores: list[str]) -> None:
    """Glance's ``copy-image`` import of ``image_id`` to ``stores`` as the
    ``[glance]`` user, a failed copy not undoing the others.

    :raises Refused: as :func:`read`.
    """
    _request(conf, api_servers, 'POST', '/v2/images/%s/import' % image_id,
             (202,), {'method': {'name': 'copy-image'}, 'stores': stores,
                      'all_stores_must_succeed': False})
