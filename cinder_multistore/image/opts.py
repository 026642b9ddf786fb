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
    cfg.BoolOpt('site_store',
                default=False,
                help="""
Send an upload from a Ceph RBD volume to the Glance store of the volume's
own Ceph cluster when nothing else places it: the volume type names no
store (``image_service:store_id``) and the volume has no base image Glance
would co-locate with. The store is the one rbd store of Glance's
``GET /v2/info/stores/detail`` whose ``fsid`` is the cluster's, read as the
``[glance]`` service user of ``cinder.conf`` (the detail is admin-or-service
only from 2025.1; as the volume's owner when ``[glance]`` has no auth).
When no store or several match, or a lookup fails, Glance's default store
is used and one INFO line says why. Recommended for clouds with a Ceph
cluster and a Glance rbd store per site, so that an edge volume's image
stays at the edge.

Possible values:

* False (default): the placement precedence of the Cinder spec (volume
  type's store, then the base image's stores, then Glance's default).
* True: volume type's store, then the base image's stores, then the store
  of the volume's Ceph cluster, then Glance's default.

Related options:

* ``[glance]`` auth options of ``cinder.conf``: the service user that reads
  the stores detail.
* ``validate_store``: the site's store is checked like a named one.
""".strip()),
    cfg.BoolOpt('zero_copy',
                default=True,
                help="""
Upload a raw volume of a Ceph RBD backend to an image without streaming its
data when one of the stores the placement rules choose (the volume type's
store, the site store, or a store of the base image) is a Glance rbd store
of the volume's own Ceph cluster (its ``fsid`` in Glance's ``GET
/v2/info/stores/detail``). The driver snapshots the volume, makes a
copy-on-write clone of the snapshot in Glance's pool in glance_store's rbd
layout (no data is copied; the volume's snapshot moves to Ceph's snapshot
trash, out of Cinder's sight), and registers ``rbd://<fsid>/<pool>/<image
id>/snap`` with Glance's ``POST /v2/images/{image_id}/locations`` (Images
API 2.17) as the ``[glance]`` service user. Glance computes ``checksum`` and
``os_hash_value`` in the background (``do_secure_hash``). The other stores
the rules choose, if any, get their copies from Glance's ``copy-image``
import once the upload has returned (unless ``colocation_in_upload``). A
volume that images still depend on when Cinder deletes it waits in the RBD
trash until they are deleted (``upload_parent_purge_interval``). The clone
is flattened (the data copied once inside Ceph, still not streamed) when the
volume is a clone of another volume, so that the image does not keep its
parent (and when it is a clone of a base image, with
``flatten_clones_of_base_images``), and on a cluster that still makes clones
of format 1 (``require-min-compat-client`` older than ``mimic``). Anything
else (another disk format, another backend or cluster, Glance without the
locations API, no service role, Ceph refusing the clone) streams the data,
with one INFO line saying why.

Possible values:

* True (default): clone when the conditions above hold, else stream.
* False: always stream the data through glance-api.

Related options:

* ``[glance]`` auth options of ``cinder.conf``: the service user (role
  ``service``) that registers the location; without it the data streams.
* ``site_store``: the volume's site store is one of the stores that can be
  cloned into.
* ``upload_parent_purge_interval``.
* The Ceph user of the RBD backend (``rbd_user``) needs ``profile rbd`` on
  Glance's pool, else Ceph refuses the clone and the data streams; Glance's
  Ceph user needs ``profile rbd-read-only`` on the volumes' pool to read
  the image.
""".strip()),
    cfg.BoolOpt('colocation_in_upload',
                default=False,
                help="""
Whether an upload whose placement names several stores (co-location with the
stores of its base image) writes every copy within the upload itself, and
fails when a copy cannot be written. With
``zero_copy``, such an upload is cloned into the store of the volume's Ceph
cluster and returns once that location is registered; Glance's
``copy-image`` import then copies the image to the other stores (a failed
copy shows in ``os_glance_failed_import`` and in a user message on the
volume, the image stays usable). Set it where glance-api's filter runs with
``colocation_required``: such uploads then stream through the filter in one
pass, which refuses the upload when a copy fails.

Possible values:

* False (default): co-location may complete after the upload.
* True: co-location is written in one pass, or the upload fails.
""".strip()),
    cfg.BoolOpt('flatten_clones_of_base_images',
                default=False,
                help="""
Whether ``zero_copy`` flattens the image uploaded from a volume that is
itself a copy-on-write clone of a Glance image (a volume made from a base
image in its cluster: the co-located uploads). By default the new image
stays a copy-on-write clone of the volume, as Cinder's RBD driver keeps a
volume made from an image or a snapshot a clone of it
(``rbd_flatten_volume_from_snapshot``): the upload takes about a second
whatever the size, and the new image depends on its volume and, through it,
on the base image, whose data stays in Ceph until every image uploaded from
its volumes is deleted: a volume deleted meanwhile waits in the RBD trash
(``upload_parent_purge_interval``), and a base image deleted meanwhile is
moved by glance_store to the RBD trash of Glance's pool (as it is while
volumes made from it exist), from which a trash purge removes it (``rbd
trash purge schedule add --pool <pool> <interval>``). A volume made from
another volume is always flattened, and so is a chain that would be deeper
than the backend's ``rbd_max_clone_depth`` (an image uploaded from a volume
made from an image uploaded from ...).

Flattening copies the allocated data once inside Ceph before Glance knows
the image (about 3 s per GiB on the embedded cloud), and the new image then
depends on nothing.

Possible values:

* False (default): keep the copy-on-write chain (base image, volume,
  image).
* True: flatten; nothing keeps the base image's data.

Related options:

* ``zero_copy``.
* ``upload_parent_purge_interval``.
""".strip()),
    cfg.IntOpt('upload_parent_purge_interval',
               default=300,
               min=0,
               help="""
Seconds between two looks, by each RBD backend of cinder-volume, for the
deleted volumes it keeps because images were cloned from them by
``zero_copy`` (in the RBD trash, or as Cinder's ``*.deleted`` volumes);
those whose images are all deleted are removed. Glance's Ceph user cannot
remove them when it deletes the last image: it may not write in Cinder's
pool. Nothing else is touched.

Possible values:

* 0: never (``rbd trash purge <pool>``, by hand or by Ceph's
  ``rbd trash purge schedule``, removes those in the trash instead).
* A positive number of seconds.
""".strip()),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the driver's options on ``conf``."""
    conf.register_opts(image_service_opts, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The driver's options, by group, for oslo-config-generator."""
    return [(GROUP, image_service_opts)]
