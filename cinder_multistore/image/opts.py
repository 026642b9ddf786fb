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

"""Options of the Cinder image driver, read from ``cinder.conf``.

The driver registers them on Cinder's configuration when it is installed,
never at import. :func:`list_opts` feeds ``oslo-config-generator``
(namespace ``cinder_multistore.cinder``) and the docs.
"""

from oslo_config import cfg


GROUP = 'multistore_image_service'
#: The group both sides shared before; still read, with a warning.
DEPRECATED_GROUP = 'cinder_multistore'

image_service_opts = [
    cfg.IntOpt('upload_chunk_size',
               deprecated_group=DEPRECATED_GROUP,
               default=1024 * 1024,
               min=64 * 1024,
               help="""
Size, in bytes, of the reads the Cinder image driver makes from a volume
when it uploads it to Glance; each read is sent as one HTTP chunk.

Keep it below the chunk limit of the server in front of glance-api (uwsgi's
``--chunked-input-limit``, often 4096000 bytes), or Glance answers "unable
to receive chunked part".
""".strip()),
    cfg.BoolOpt('validate_store',
                deprecated_group=DEPRECATED_GROUP,
                default=True,
                help="""
Check the target store against Glance's ``GET /v2/info/stores`` before any
data is sent. An unknown, read-only or reserved store fails the upload with
a clear error and the queued image is deleted.
""".strip()),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the driver's options on ``conf``."""
    conf.register_opts(image_service_opts, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The driver's options, by group, for oslo-config-generator."""
    return [(GROUP, image_service_opts)]
