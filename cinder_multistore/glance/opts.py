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

"""Options of the Glance filter, read from ``glance-api.conf``.

The filter registers them when paste builds it, never at import; each may
also be set in the filter's paste section (``[filter:multistore]``), which
wins. :func:`list_opts` feeds ``oslo-config-generator`` (namespace
``cinder_multistore.glance``) and the docs.
"""

from oslo_config import cfg


GROUP = 'multistore_filter'
#: The group both sides shared before; still read, with a warning.
DEPRECATED_GROUP = 'cinder_multistore'

filter_opts = [
    cfg.BoolOpt('colocation',
                deprecated_group=DEPRECATED_GROUP,
                default=True,
                help="""
Co-locate new images with their base image.

When an upload or import names no store and carries
``x-openstack-base-image-ref``, write the data to every usable store that
holds the base image. When False, such requests go to the default store.

Related options: colocation_required.
""".strip()),
    cfg.BoolOpt('colocation_required',
                deprecated_group=DEPRECATED_GROUP,
                default=False,
                help="""
Fail the upload when a co-located copy cannot be written.

By default a secondary store that fails (full, unwritable, unreachable) is
logged and reported in the ``X-Image-Stores-Failed`` response header, and the
upload succeeds with the stores that were written. When True, any failed
secondary fails the whole upload: every copy is removed and the image goes
back to ``queued``.

Related options: colocation.
""".strip()),
    cfg.IntOpt('buffer_chunks',
               deprecated_group=DEPRECATED_GROUP,
               default=8,
               min=1,
               max=1024,
               help="""
How many 1 MiB blocks of the request body may wait for a slow secondary
store.

The request stream is read once and handed to every secondary store writer
through a bounded queue, in blocks of at most 1 MiB: a larger read of the
primary store (8 MiB for an rbd store) is queued as 1 MiB pieces. This
bounds the data waiting for a secondary store to ``buffer_chunks`` MiB,
whatever the image size and the primary store; a slow store slows the
upload down instead of filling memory.

Possible values: 1 to 1024.

Related options: copy_stall_timeout.
""".strip()),
    cfg.StrOpt('copy_hash_algorithm',
               deprecated_group=DEPRECATED_GROUP,
               default='sha1',
               help="""
The hash algorithm a secondary store computes while it writes a co-located
copy.

Glance records one checksum (MD5) and one multihash (``hashing_algorithm``,
SHA-512 by default) per image; the primary store's write computes both.
Each secondary copy is checked against them by size and MD5, which every
glance_store driver computes anyway; the multihash a driver also computes
is needed only when this option equals Glance's ``hashing_algorithm``, in
which case it is compared too. The default, SHA-1, is the cheapest
algorithm glance_store accepts: about three times faster than SHA-512, and
hashing is what bounds a co-located upload on a small machine.

Possible values: any name ``hashlib.new`` accepts (sha1, sha256,
sha512...).

Related options: hashing_algorithm (Glance, ``[DEFAULT]``).
""".strip()),
    cfg.IntOpt('copy_stall_timeout',
               deprecated_group=DEPRECATED_GROUP,
               default=60,
               min=1,
               help="""
Seconds a secondary store may make no progress before its co-located copy
is abandoned.

A store that stops answering (a Ceph cluster without quorum, a hung NFS
mount) would otherwise hold the upload, and the glance-api worker, forever.
When a copy's queue stays full for this long, or the copy does not finish
this long after the end of the data, the copy is dropped: the upload
completes in the other stores (or fails cleanly with
``colocation_required``), the store is named in ``X-Image-Stores-Failed``,
and its partial data is removed as soon as the store call returns. Set the
store's own client timeouts (for Ceph, ``rados_osd_op_timeout`` and
``rados_mon_op_timeout``) below this value so the writer thread ends too.

Related options: buffer_chunks, colocation_required.
""".strip()),
    cfg.IntOpt('copy_writer_nice',
               deprecated_group=DEPRECATED_GROUP,
               default=5,
               min=0,
               max=19,
               help="""
How much lower the priority of the threads writing co-located copies is than
that of the request (a nice increment of those threads only, on Linux).

The request's own thread reads the client and writes the primary store; the
copies follow it through bounded queues. When the copies' hashing takes more
CPU than the machine has, threads of equal priority slow the request's own
path down as much as the copies, and the whole upload waits for it. With a
lower priority the copies use the CPU the request leaves. Measured on two
cores: about 9% faster in the benchmark's hashing model, 2 to 4% on a real
co-located upload into three stores. 0 keeps the worker's priority.

Related options: buffer_chunks.
""".strip()),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the filter's options on ``conf``."""
    conf.register_opts(filter_opts, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The filter's options, by group, for oslo-config-generator."""
    return [(GROUP, filter_opts)]
