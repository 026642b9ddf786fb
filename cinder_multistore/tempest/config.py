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

"""Options of the cinder-multistore tempest plugin."""

from oslo_config import cfg


multistore_group = cfg.OptGroup(
    name='multistore',
    title='cinder-multistore placement tests')

MultiStoreGroup: list[cfg.Opt] = [
    cfg.ListOpt('stores',
                default=[],
                help="""
Usable Glance stores the tests may write to, in Glance's order (by weight).

At least three are needed: the default store and two others that hold the
co-location base images. The volume tests upload whole volumes, so list
only stores large enough for a volume-sized image.

Possible values:
    * An empty list (default): every enabled store of ``GET
      /v2/info/stores`` that is neither read-only nor reserved.
    * A list of store identifiers.

Related options:
    * default_store
"""),
    cfg.StrOpt('default_store',
               help="""
Glance's default store. When unset, the store that ``GET /v2/info/stores``
flags as default.
"""),
    cfg.StrOpt('read_only_store',
               help="""
A read-only store (for example an http store) that uploads must be refused
with. When unset, the first read-only store of ``GET /v2/info/stores``; the
read-only tests are skipped when there is none.
"""),
    cfg.DictOpt('rbd_volume_types',
                default={},
                help="""
Volume types of Cinder RBD backends, each with the Glance rbd store of the
same Ceph cluster (``type:store,type:store``). The zero-copy tests upload
volumes of a copy of the first type with ``image_service:store_id`` set to
its store, and delete volumes and images in every order.

Possible values:
    * An empty dict (default): the zero-copy tests are skipped.
    * ``volume type name or id: store id`` pairs.
"""),
    cfg.IntOpt('image_size',
               default=256 * 1024,
               min=1,
               help='Size in bytes of the random image data the image API '
                    'tests upload.'),
]

feature_group = cfg.OptGroup(
    name='multistore_feature_enabled',
    title='cinder-multistore features of the cloud under test')

FeatureGroup: list[cfg.Opt] = [
    cfg.BoolOpt('colocation',
                default=True,
                help="""
Does Glance co-locate an image uploaded with ``x-openstack-base-image-ref``
(and no store) with its base image? False skips the co-location tests.
"""),
    cfg.BoolOpt('reserved_store_check',
                default=True,
                help="""
Does Glance refuse reserved stores (``os_glance_*``) with a 400 on upload and
import, and unknown stores with a 400 on import? Upstream Glance accepts the
former and answers 409 to the latter. False skips those tests.
"""),
    cfg.BoolOpt('site_store',
                default=False,
                help="""
Does cinder-volume run with ``[multistore_image_service] site_store =
true`` (an upload that neither its volume type nor a base image places goes
to the store of the volume's own Ceph cluster)? The site rule's tests need
it and ``[multistore] rbd_volume_types``; they are skipped otherwise.
"""),
    cfg.BoolOpt('volume_upload',
                default=True,
                help="""
Does Cinder's upload-to-image send the placement headers (the store of the
volume type, the volume's base image)? The volume tests also need
``[service_available] cinder``.
"""),
]


def list_groups() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Every group of the plugin with its options."""
    return [(multistore_group, MultiStoreGroup),
            (feature_group, FeatureGroup)]
