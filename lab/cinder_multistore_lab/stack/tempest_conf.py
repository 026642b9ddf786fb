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

"""``DIR/tempest.conf``: tempest's view of the embedded cloud."""

from __future__ import annotations

from pathlib import Path

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import neutron
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import www


FILE_NAME = 'tempest.conf'
#: The peers' suites' tempest.conf (:func:`peers_sections`).
PEERS_FILE_NAME = 'tempest-peers.conf'
SITE_STORE_FILE_NAME = 'tempest-site-store.conf'


def path(directory: Path) -> Path:
    """Where tempest.conf is written (``TEMPEST_CONFIG_DIR`` is DIR)."""
    return Path(directory) / FILE_NAME


def peers_path(directory: Path) -> Path:
    """The tempest.conf of the peers' suites (:func:`peers_sections`)."""
    return Path(directory) / PEERS_FILE_NAME


def site_store_path(directory: Path) -> Path:
    """The tempest.conf of the plugin's site rule tests, run while
    cinder-volume has ``site_store`` on
    (:func:`.tempest_run.site_store_cloud`).
    """
    return Path(directory) / SITE_STORE_FILE_NAME


def site_store_sections(sections: dict[str, dict[str, object]]
                        ) -> dict[str, dict[str, object]]:
    """tempest.conf with ``[multistore_feature_enabled] site_store``."""
    site = {name: dict(options) for name, options in sections.items()}
    site['multistore_feature_enabled']['site_store'] = True
    return site


def peers_sections(sections: dict[str, dict[str, object]]
                   ) -> dict[str, dict[str, object]]:
    """tempest.conf for cinder-tempest-plugin's volume API tests.

    Their volumes go to the central site's RBD backend (its zone), where
    the volume/image dependency tests run clone chains: volumes cloned
    from volumes and snapshots, images uploaded from RBD volumes and
    deleted in every order. Upstream tempest's own volume suite keeps the
    default zone (NFS).
    """
    peers = {name: dict(options) for name, options in sections.items()}
    peers.setdefault('compute', {})['compute_volume_common_az'] = (
        cinder.site_az(ceph.SITES[0]))
    features = peers.setdefault('volume-feature-enabled', {})
    features['enable_volume_image_dep_tests'] = True
    # RBD reverts a volume to its latest snapshot.
    features['volume_revert'] = True
    peers['volume']['storage_protocol'] = 'ceph'
    peers['volume']['backend_names'] = [cinder.rbd_backend(ceph.SITES[0])]
    return peers


#: The disk formats tempest uploads volumes to images in.
VOLUME_DISK_FORMATS = ('raw', 'qcow2')


def volume_disk_formats() -> list[str] | str:
    """``[volume] disk_format`` for the installed tempest.

    A list in newer tempest (47: ``test_volume_upload`` uploads in each
    format); one format in older ones (43 sends a list as the one format
    ``raw, qcow2``, which Cinder refuses).
    """
    try:
        from oslo_config import cfg
        from tempest import config
    except ImportError:
        return list(VOLUME_DISK_FORMATS)
    for opt in config.VolumeGroup:
        if opt.name == 'disk_format' and not isinstance(opt, cfg.ListOpt):
            return VOLUME_DISK_FORMATS[0]
    return list(VOLUME_DISK_FORMATS)


def write(state: State, with_cinder: bool) -> Path:
    """Write tempest.conf for this run."""
    directory = Path(state.directory)
    with_neutron = neutron.enabled(state)
    (directory / 'tempest' / 'locks').mkdir(parents=True, exist_ok=True)
    sections: dict[str, dict[str, object]] = {
        'DEFAULT': {
            'log_file': directory / 'logs' / 'tempest.log',
            'use_stderr': False,
        },
        'oslo_concurrency': {'lock_path': directory / 'tempest' / 'locks'},
        'auth': {
            'use_dynamic_credentials': True,
            # With Neutron, the classes that ask for a network get one
            # (network, subnet, router) in their dynamic project.
            'create_isolated_networks': with_neutron,
            'admin_username': keystone.ADMIN_USER,
            'admin_password': state.password(keystone.ADMIN_USER),
            'admin_project_name': keystone.ADMIN_PROJECT,
            'admin_domain_name': keystone.DOMAIN,
            'default_credentials_domain_name': keystone.DOMAIN,
        },
        'identity': {
            'uri_v3': keystone.url(state),
            'auth_version': 'v3',
            'region': keystone.REGION,
            'v3_endpoint_type': 'public',
            'admin_role': 'admin',
        },
        'identity-feature-enabled': {'api_v2': False, 'api_v3': True},
        'service_available': {
            'glance': True,
            'cinder': with_cinder,
            'nova': False,
            'neutron': with_neutron,
            'swift': False,
            'horizon': False,
        },
        'image': {
            'catalog_type': 'image',
            'region': keystone.REGION,
            'endpoint_type': 'public',
            'http_image': www.url(state, www.RAW_IMAGE),
            'http_qcow2_image': www.url(state, www.QCOW2_IMAGE),
            'image_caching_enabled': False,
            'build_timeout': 120,
            'build_interval': 1,
            'container_formats': ['bare', 'ami', 'ari', 'aki', 'ovf', 'ova'],
            'disk_formats': ['qcow2', 'raw', 'ami', 'ari', 'aki', 'vhd',
                             'vmdk', 'vdi', 'iso', 'vhdx'],
            'hashing_algorithm': 'sha512',
        },
        'image-feature-enabled': {
            'import_image': True,
            'os_glance_reserved': True,
            # NOTE: tempest's ImageLocationsTest and ImageLocationsAdminTest
            # read and PATCH an image's locations as its owner, which only
            # show_multiple_locations allows; the stack runs without it
            # (OSSN-0065). The new locations API (LocationImportTest) runs.
            'manage_locations': False,
            'image_conversion': False,
            'do_secure_hash': True,
            'http_store_enabled': True,
            'store_weight_enabled': True,
        },
        'compute': {
            # No Nova: the volume tests only read image_ref.
            'image_ref': state.test_image,
        },
        'enforce_scope': {'glance': True, 'cinder': False,
                          'keystone': False},
        # This project's plugin: the three large file stores (delta is a
        # small tmpfs kept for failure tests, too small for volume images).
        'multistore': {
            'stores': ['alpha', 'beta', 'gamma'],
            # NOTE: each site's volume type with its cluster's rbd store:
            # the zero-copy upload tests.
            'rbd_volume_types': ','.join(
                '%s:%s' % (cinder.site_volume_type(c.site),
                           glance.rbd_store(c.site))
                for c in ceph.clusters(state)) if with_cinder else ''},
        'multistore_feature_enabled': {'volume_upload': with_cinder},
    }
    if with_neutron:
        sections['network'] = {
            'catalog_type': neutron.SERVICE_TYPE,
            'region': keystone.REGION,
            'endpoint_type': 'publicURL',
            'project_network_cidr': neutron.PROJECT_NETWORK_CIDR,
            'project_network_mask_bits': neutron.PROJECT_NETWORK_MASK_BITS,
            # No external network: project routers get no gateway.
            'public_network_id': '',
            'shared_physical_network': False,
        }
    if with_cinder:
        sections['volume'] = {
            'catalog_type': 'block-storage',
            'region': keystone.REGION,
            'endpoint_type': 'publicURL',
            'build_timeout': 300,
            'storage_protocol': 'nfs',
            'vendor_name': 'Open Source',
            'backend_names': ['nfs'],
            'volume_size': 1,
            'disk_format': volume_disk_formats(),
            'min_microversion': '3.0',
            'max_microversion': 'latest',
        }
        sections['volume-feature-enabled'] = {
            # No cinder-backup service runs.
            'backup': False,
            'snapshot': True,
            'clone': True,
            # Cinder's NFS driver has no unmanage (NotImplementedError)
            # and cannot manage an existing snapshot.
            'manage_volume': False,
            'manage_snapshot': False,
            # The RBD backends are in their sites' zones: tempest's
            # multi-backend tests make types without a zone, whose volumes
            # go to the default zone, where only NFS is.
            'multi_backend': False,
            # No Nova: nothing attaches.
            'extend_attached_volume': False,
        }
    if with_cinder and ceph.clusters(state):
        common.write_ini(peers_path(directory), peers_sections(sections))
        common.write_ini(site_store_path(directory),
                         site_store_sections(sections))
    return common.write_ini(path(directory), sections)
