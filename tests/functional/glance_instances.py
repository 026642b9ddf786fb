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

"""Extra glance-api instances with the filter and other options.

Some behaviours need glance-api options the embedded cloud does not run
with (a storage quota, mandatory co-location, a short stall timeout, odd
store chunk sizes). :func:`start` starts one more glance-api with the
filter on the same database and stores, its config being the stack's plus
the given overrides, served like the stack's own glance-api (uwsgi or the
eventlet ``glance-api``, ``STACK_GLANCE_SERVER``); the stack's ``down``
stops it with the rest.
"""

import configparser
from pathlib import Path

from glanceclient import client as glance_client

from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import ports
from cinder_multistore_lab.stack.state import State
from tests.functional import cloud


def start(env: StackEnv, name: str,
          overrides: dict[str, dict[str, object]]) -> str:
    """Start (or reuse) glance-api ``name``; return its endpoint.

    :param overrides: section -> option -> value, applied on top of the
        stack's glance-api.conf (``cinder_multistore`` for the filter).
    """
    directory = Path(env.directory)
    state = State.load(directory)
    server = env.stack.glance_server or glance.UWSGI
    assert glance.server(state) == server, (
        'stack.env says glance runs under %s, the stack state %s'
        % (server, glance.server(state)))
    if name in state.services:
        return glance.url(state, name)
    state.ports[name] = ports.free_port()
    state.save()
    conf_dir = glance.etc(directory, name)
    conf_dir.mkdir(parents=True, exist_ok=True)
    paste = glance.paste_path(directory, name)
    paste.write_text(glance.add_filter(
        glance.upstream_paste_ini().read_text()))
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read(glance.conf_path(directory))
    parser['paste_deploy']['config_file'] = str(paste)
    url = glance.url(state, name)
    parser['DEFAULT']['worker_self_reference_url'] = url
    parser['DEFAULT']['public_endpoint'] = url
    for section, options in overrides.items():
        if section != 'DEFAULT' and not parser.has_section(section):
            parser.add_section(section)
        for key, value in options.items():
            parser[section][key] = str(value)
    with open(glance.conf_path(directory, name), 'w') as f:
        parser.write(f)
    glance.start(state, block=True, name=name)
    return url


def client_on(client: cloud.ImageClient,
              endpoint: str) -> cloud.ImageClient:
    """``client``'s user, talking to the glance-api at ``endpoint``."""
    other = cloud.ImageClient(client.env, client.session)
    other.endpoint = endpoint
    other.glance = glance_client.Client('2', session=client.session,
                                        endpoint=endpoint)
    return other


def log_path(env: StackEnv, name: str) -> Path:
    """The log file of glance-api ``name``."""
    return glance.log_path(Path(env.directory), name)
