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

"""``DIR/stack.env``: the variables of a running stack.

The file holds ``export VAR='value'`` lines that bash can source (the
README and the command-line clients do). Python code reads it back through
one typed object, :class:`StackEnv` (``StackEnv.load(DIR)``), made of one
part per service: :class:`Identity` (Keystone), :class:`Web`,
:class:`Glance`, :class:`Ceph`, :class:`Cinder`, :class:`Neutron`, and the
benchmark's reference services (:class:`GlancePlain`,
:class:`CinderUpstream`). Every part knows its variables
(``variables()``) and reads them back (``from_variables()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import os
from pathlib import Path
import re
import shlex
from typing import Protocol


FILE_NAME = 'stack.env'
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class EnvError(ValueError):
    """stack.env lacks a variable, or holds a bad one."""


class EnvPart(Protocol):
    """A part of stack.env: the variables of one service."""

    def variables(self) -> dict[str, str]:
        """The part's variables, by name."""
        ...


def path(directory: Path | str) -> Path:
    """Where stack.env is written."""
    return Path(directory) / FILE_NAME


def write(directory: Path | str, variables: Mapping[str, object]) -> Path:
    """Write ``variables`` as quoted ``export`` lines (atomically)."""
    lines = ['# cinder-multistore embedded cloud; source this file']
    for name, value in variables.items():
        if not _NAME.match(name):
            raise ValueError('bad variable name %r' % name)
        lines.append('export %s=%s' % (name, shlex.quote(str(value))))
    target = path(directory)
    tmp = target.with_suffix('.tmp')
    tmp.write_text('\n'.join(lines) + '\n')
    os.replace(tmp, target)
    return target


def parse(text: str) -> dict[str, str]:
    """Parse ``export VAR=value`` / ``VAR=value`` lines (shell quoting)."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        words = shlex.split(line, comments=True)
        if words and words[0] == 'export':
            words = words[1:]
        for word in words:
            name, sep, value = word.partition('=')
            if sep and _NAME.match(name):
                result[name] = value
    return result


def load(directory: Path | str) -> dict[str, str]:
    """Read ``DIR/stack.env`` into a dict of raw strings.

    :raises FileNotFoundError: when the stack was never brought up there.
    """
    return parse(path(directory).read_text())


def _words(value: str) -> tuple[str, ...]:
    return tuple(w for w in value.split(',') if w)


class Variables:
    """Raw variables read from ``source``; a missing one is an
    :class:`EnvError` naming it and the file.
    """

    def __init__(self, values: Mapping[str, str], source: str) -> None:
        self.values = dict(values)
        self.source = source

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def required(self, name: str) -> str:
        """The value of ``name``."""
        try:
            return self.values[name]
        except KeyError:
            raise EnvError('%s has no variable %s (was the stack brought '
                           'up by this version of the lab?)'
                           % (self.source, name)) from None

    def optional(self, name: str) -> str | None:
        """The value of ``name``, or None when it is not set."""
        return self.values.get(name)

    def path(self, name: str) -> Path:
        """The value of ``name`` as a path."""
        return Path(self.required(name))

    def words(self, name: str) -> tuple[str, ...]:
        """The comma-separated words of ``name`` (empty when unset)."""
        return _words(self.values.get(name, ''))


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A Keystone user and its project."""

    username: str
    password: str
    project_name: str


#: Users of stack.env (``<PREFIX>_USERNAME``...) besides the admin (OS).
USERS = ('DEMO', 'ALT')


@dataclasses.dataclass(frozen=True)
class StackInfo:
    """What ran the stack: directory, run, SQL, Python, release."""

    directory: Path
    run_id: str
    sql: str
    python: Path
    release: str
    glance_server: str
    versions: str

    def variables(self) -> dict[str, str]:
        """``STACK_*``."""
        return {
            'STACK_DIR': str(self.directory),
            'STACK_RUN_ID': self.run_id,
            'STACK_SQL': self.sql,
            'STACK_PYTHON': str(self.python),
            'STACK_RELEASE': self.release,
            'STACK_GLANCE_SERVER': self.glance_server,
            'STACK_VERSIONS': self.versions,
        }

    @classmethod
    def from_variables(cls, v: Variables) -> StackInfo:
        """Read ``STACK_*``."""
        return cls(directory=v.path('STACK_DIR'),
                   run_id=v.required('STACK_RUN_ID'),
                   sql=v.optional('STACK_SQL') or '',
                   python=v.path('STACK_PYTHON'),
                   release=v.optional('STACK_RELEASE') or '',
                   glance_server=v.optional('STACK_GLANCE_SERVER') or 'uwsgi',
                   versions=v.optional('STACK_VERSIONS') or '')


@dataclasses.dataclass(frozen=True)
class Identity:
    """Keystone: the ``OS_*`` variables and the users' credentials."""

    auth_url: str
    admin: Credentials
    users: Mapping[str, Credentials]
    user_domain_name: str
    project_domain_name: str
    region: str
    log: Path

    def credentials(self, prefix: str) -> Credentials:
        """The credentials of ``OS`` (admin), ``DEMO`` or ``ALT``."""
        if prefix.upper() == 'OS':
            return self.admin
        try:
            return self.users[prefix.upper()]
        except KeyError:
            raise EnvError('stack.env has no user %s (users: OS, %s)'
                           % (prefix, ', '.join(self.users))) from None

    def variables(self) -> dict[str, str]:
        """``OS_*``, ``<USER>_*`` and ``KEYSTONE_LOG``."""
        v = {
            'OS_AUTH_URL': self.auth_url,
            'OS_USERNAME': self.admin.username,
            'OS_PASSWORD': self.admin.password,
            'OS_PROJECT_NAME': self.admin.project_name,
            'OS_USER_DOMAIN_NAME': self.user_domain_name,
            'OS_PROJECT_DOMAIN_NAME': self.project_domain_name,
            'OS_IDENTITY_API_VERSION': '3',
            'OS_REGION_NAME': self.region,
            'OS_AUTH_TYPE': 'password',
            'OS_INTERFACE': 'public',
        }
        for prefix, user in self.users.items():
            v['%s_USERNAME' % prefix] = user.username
            v['%s_PASSWORD' % prefix] = user.password
            v['%s_PROJECT_NAME' % prefix] = user.project_name
        v['KEYSTONE_LOG'] = str(self.log)
        return v

    @staticmethod
    def _credentials(v: Variables, prefix: str) -> Credentials:
        return Credentials(v.required('%s_USERNAME' % prefix),
                           v.required('%s_PASSWORD' % prefix),
                           v.required('%s_PROJECT_NAME' % prefix))

    @classmethod
    def from_variables(cls, v: Variables) -> Identity:
        """Read ``OS_*`` and the users."""
        return cls(
            auth_url=v.required('OS_AUTH_URL'),
            admin=cls._credentials(v, 'OS'),
            users={p: cls._credentials(v, p) for p in USERS
                   if '%s_USERNAME' % p in v},
            user_domain_name=v.optional('OS_USER_DOMAIN_NAME') or 'Default',
            project_domain_name=(v.optional('OS_PROJECT_DOMAIN_NAME')
                                 or 'Default'),
            region=v.optional('OS_REGION_NAME') or 'RegionOne',
            log=v.path('KEYSTONE_LOG'))


@dataclasses.dataclass(frozen=True)
class Web:
    """The small web server's images (``web-download``, http store)."""

    raw_image_url: str
    qcow2_image_url: str

    def variables(self) -> dict[str, str]:
        """``HTTP_*``."""
        return {'HTTP_IMAGE_URL': self.raw_image_url,
                'HTTP_QCOW2_IMAGE_URL': self.qcow2_image_url}

    @classmethod
    def from_variables(cls, v: Variables) -> Web:
        """Read ``HTTP_*``."""
        return cls(v.required('HTTP_IMAGE_URL'),
                   v.required('HTTP_QCOW2_IMAGE_URL'))


@dataclasses.dataclass(frozen=True)
class Glance:
    """Glance: endpoint, stores (file stores' folders, rbd stores)."""

    endpoint: str
    stores: tuple[str, ...]
    usable_stores: tuple[str, ...]
    readonly_stores: tuple[str, ...]
    default_store: str
    small_store: str
    reserved_stores: tuple[str, ...]
    store_dirs: Mapping[str, Path]
    staging_dir: Path
    tasks_dir: Path
    conf: Path
    log: Path
    image_id: str
    rbd_stores: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def store_dir(self, store: str) -> Path:
        """The folder of file store ``store``."""
        try:
            return self.store_dirs[store]
        except KeyError:
            raise EnvError('stack.env has no file store %r (GLANCE_STORE_'
                           'DIR_%s)' % (store, store)) from None

    def rbd_store(self, site: str) -> str:
        """The rbd store of Ceph site ``site``."""
        try:
            return self.rbd_stores[site]
        except KeyError:
            raise EnvError('stack.env has no rbd store of site %r '
                           '(GLANCE_RBD_STORE_%s)' % (site, site)) from None

    def variables(self) -> dict[str, str]:
        """``GLANCE_*`` and ``STACK_IMAGE_ID``."""
        v = {
            'GLANCE_ENDPOINT': self.endpoint,
            'GLANCE_STORES': ','.join(self.stores),
            'GLANCE_USABLE_STORES': ','.join(self.usable_stores),
            'GLANCE_READONLY_STORES': ','.join(self.readonly_stores),
            'GLANCE_DEFAULT_STORE': self.default_store,
            'GLANCE_SMALL_STORE': self.small_store,
            'GLANCE_RESERVED_STORES': ','.join(self.reserved_stores),
        }
        for store, folder in self.store_dirs.items():
            v['GLANCE_STORE_DIR_%s' % store] = str(folder)
        v.update({
            'GLANCE_STAGING_DIR': str(self.staging_dir),
            'GLANCE_TASKS_DIR': str(self.tasks_dir),
            'GLANCE_CONF': str(self.conf),
            'GLANCE_LOG': str(self.log),
            'STACK_IMAGE_ID': self.image_id,
        })
        if self.rbd_stores:
            v['GLANCE_RBD_STORES'] = ','.join(self.rbd_stores.values())
            for site, store in self.rbd_stores.items():
                v['GLANCE_RBD_STORE_%s' % site] = store
        return v

    @classmethod
    def from_variables(cls, v: Variables) -> Glance:
        """Read ``GLANCE_*``."""
        prefix = 'GLANCE_STORE_DIR_'
        rbd_prefix = 'GLANCE_RBD_STORE_'
        return cls(
            endpoint=v.required('GLANCE_ENDPOINT'),
            stores=v.words('GLANCE_STORES'),
            usable_stores=v.words('GLANCE_USABLE_STORES'),
            readonly_stores=v.words('GLANCE_READONLY_STORES'),
            default_store=v.required('GLANCE_DEFAULT_STORE'),
            small_store=v.required('GLANCE_SMALL_STORE'),
            reserved_stores=v.words('GLANCE_RESERVED_STORES'),
            store_dirs={k[len(prefix):]: Path(value)
                        for k, value in v.values.items()
                        if k.startswith(prefix)},
            staging_dir=v.path('GLANCE_STAGING_DIR'),
            tasks_dir=v.path('GLANCE_TASKS_DIR'),
            conf=v.path('GLANCE_CONF'),
            log=v.path('GLANCE_LOG'),
            image_id=v.optional('STACK_IMAGE_ID') or '',
            rbd_stores={k[len(rbd_prefix):]: value
                        for k, value in v.values.items()
                        if k.startswith(rbd_prefix)})


@dataclasses.dataclass(frozen=True)
class CephSite:
    """One Ceph cluster: its conf, identity and keyrings."""

    conf: Path
    fsid: str
    mon_host: str
    admin_keyring: Path
    glance_keyring: Path
    cinder_keyring: Path
    log_dir: Path


@dataclasses.dataclass(frozen=True)
class Ceph:
    """The Ceph clusters, by site (in start order), and their pools."""

    sites: Mapping[str, CephSite]
    images_pool: str
    volumes_pool: str

    def site(self, name: str) -> CephSite:
        """The cluster of site ``name``."""
        try:
            return self.sites[name]
        except KeyError:
            raise EnvError('stack.env has no Ceph site %r (CEPH_SITES=%s)'
                           % (name, ','.join(self.sites))) from None

    def variables(self) -> dict[str, str]:
        """``CEPH_*``."""
        v = {'CEPH_SITES': ','.join(self.sites)}
        for name, s in self.sites.items():
            v.update({
                'CEPH_CONF_%s' % name: str(s.conf),
                'CEPH_FSID_%s' % name: s.fsid,
                'CEPH_MON_HOST_%s' % name: s.mon_host,
                'CEPH_KEYRING_ADMIN_%s' % name: str(s.admin_keyring),
                'CEPH_KEYRING_GLANCE_%s' % name: str(s.glance_keyring),
                'CEPH_KEYRING_CINDER_%s' % name: str(s.cinder_keyring),
                'CEPH_LOG_DIR_%s' % name: str(s.log_dir),
            })
        v.update({'CEPH_IMAGES_POOL': self.images_pool,
                  'CEPH_VOLUMES_POOL': self.volumes_pool})
        return v

    @classmethod
    def from_variables(cls, v: Variables) -> Ceph | None:
        """Read ``CEPH_*``; None when the stack has no clusters."""
        names = v.words('CEPH_SITES')
        if not names:
            return None
        return cls(
            sites={n: CephSite(
                conf=v.path('CEPH_CONF_%s' % n),
                fsid=v.required('CEPH_FSID_%s' % n),
                mon_host=v.required('CEPH_MON_HOST_%s' % n),
                admin_keyring=v.path('CEPH_KEYRING_ADMIN_%s' % n),
                glance_keyring=v.path('CEPH_KEYRING_GLANCE_%s' % n),
                cinder_keyring=v.path('CEPH_KEYRING_CINDER_%s' % n),
                log_dir=v.path('CEPH_LOG_DIR_%s' % n)) for n in names},
            images_pool=v.required('CEPH_IMAGES_POOL'),
            volumes_pool=v.required('CEPH_VOLUMES_POOL'))


@dataclasses.dataclass(frozen=True)
class CinderSite:
    """Cinder's RBD backend on one Ceph site."""

    volume_type: str
    az: str
    backend: str
    backend_host: str


@dataclasses.dataclass(frozen=True)
class Cinder:
    """Cinder: API, logs, the NFS backend and the RBD backends by site."""

    api_url: str
    conf: Path
    api_log: Path
    scheduler_log: Path
    volume_log: Path
    volume_type: str
    backend_host: str
    nfs_share: str
    nfs_mount: Path
    image_driver: str
    default_az: str
    sites: Mapping[str, CinderSite] = dataclasses.field(default_factory=dict)

    @property
    def rbd_backends(self) -> tuple[str, ...]:
        """The RBD backends, in site order."""
        return tuple(s.backend for s in self.sites.values())

    def site(self, name: str) -> CinderSite:
        """The RBD backend of Ceph site ``name``."""
        try:
            return self.sites[name]
        except KeyError:
            raise EnvError('stack.env has no Cinder backend on site %r '
                           '(CINDER_BACKEND_%s)' % (name, name)) from None

    def variables(self) -> dict[str, str]:
        """``CINDER_*`` (not ``CINDER_ENDPOINT``: python-cinderclient
        reads that as --os-endpoint and would skip the catalog's
        /v3/<project> URL).
        """
        v = {
            'CINDER_API_URL': self.api_url,
            'CINDER_CONF': str(self.conf),
            'CINDER_API_LOG': str(self.api_log),
            'CINDER_SCHEDULER_LOG': str(self.scheduler_log),
            'CINDER_VOLUME_LOG': str(self.volume_log),
            'CINDER_VOLUME_TYPE': self.volume_type,
            'CINDER_BACKEND_HOST': self.backend_host,
            'CINDER_NFS_SHARE': self.nfs_share,
            'CINDER_NFS_MOUNT': str(self.nfs_mount),
            'CINDER_IMAGE_DRIVER': self.image_driver,
            'CINDER_DEFAULT_AZ': self.default_az,
        }
        if self.sites:
            v['CINDER_RBD_BACKENDS'] = ','.join(self.rbd_backends)
        for name, s in self.sites.items():
            v.update({
                'CINDER_VOLUME_TYPE_%s' % name: s.volume_type,
                'CINDER_AZ_%s' % name: s.az,
                'CINDER_BACKEND_%s' % name: s.backend,
                'CINDER_BACKEND_HOST_%s' % name: s.backend_host,
            })
        return v

    @classmethod
    def from_variables(cls, v: Variables,
                       sites: tuple[str, ...]) -> Cinder | None:
        """Read ``CINDER_*``; None when the stack has no Cinder."""
        if 'CINDER_API_URL' not in v:
            return None
        return cls(
            api_url=v.required('CINDER_API_URL'),
            conf=v.path('CINDER_CONF'),
            api_log=v.path('CINDER_API_LOG'),
            scheduler_log=v.path('CINDER_SCHEDULER_LOG'),
            volume_log=v.path('CINDER_VOLUME_LOG'),
            volume_type=v.required('CINDER_VOLUME_TYPE'),
            backend_host=v.required('CINDER_BACKEND_HOST'),
            nfs_share=v.required('CINDER_NFS_SHARE'),
            nfs_mount=v.path('CINDER_NFS_MOUNT'),
            image_driver=v.required('CINDER_IMAGE_DRIVER'),
            default_az=v.required('CINDER_DEFAULT_AZ'),
            sites={n: CinderSite(
                volume_type=v.required('CINDER_VOLUME_TYPE_%s' % n),
                az=v.required('CINDER_AZ_%s' % n),
                backend=v.required('CINDER_BACKEND_%s' % n),
                backend_host=v.required('CINDER_BACKEND_HOST_%s' % n))
                for n in sites if 'CINDER_BACKEND_%s' % n in v})


@dataclasses.dataclass(frozen=True)
class Neutron:
    """neutron-server (API only)."""

    endpoint: str
    conf: Path
    ml2_conf: Path
    log: Path

    def variables(self) -> dict[str, str]:
        """``NEUTRON_*``."""
        return {'NEUTRON_ENDPOINT': self.endpoint,
                'NEUTRON_CONF': str(self.conf),
                'NEUTRON_ML2_CONF': str(self.ml2_conf),
                'NEUTRON_LOG': str(self.log)}

    @classmethod
    def from_variables(cls, v: Variables) -> Neutron | None:
        """Read ``NEUTRON_*``; None when the stack has no Neutron."""
        if 'NEUTRON_ENDPOINT' not in v:
            return None
        return cls(v.required('NEUTRON_ENDPOINT'), v.path('NEUTRON_CONF'),
                   v.path('NEUTRON_ML2_CONF'), v.path('NEUTRON_LOG'))


@dataclasses.dataclass(frozen=True)
class Tempest:
    """tempest.conf of the stack."""

    conf: Path
    config_dir: Path
    config: str

    def variables(self) -> dict[str, str]:
        """``TEMPEST_*``."""
        return {'TEMPEST_CONF': str(self.conf),
                'TEMPEST_CONFIG_DIR': str(self.config_dir),
                'TEMPEST_CONFIG': self.config}

    @classmethod
    def from_variables(cls, v: Variables) -> Tempest:
        """Read ``TEMPEST_*``."""
        return cls(v.path('TEMPEST_CONF'), v.path('TEMPEST_CONFIG_DIR'),
                   v.required('TEMPEST_CONFIG'))


@dataclasses.dataclass(frozen=True)
class GlancePlain:
    """The benchmark's glance-api with upstream's pipeline."""

    endpoint: str
    log: Path

    def variables(self) -> dict[str, str]:
        """``GLANCE_PLAIN_*``."""
        return {'GLANCE_PLAIN_ENDPOINT': self.endpoint,
                'GLANCE_PLAIN_LOG': str(self.log)}

    @classmethod
    def from_variables(cls, v: Variables) -> GlancePlain | None:
        """Read ``GLANCE_PLAIN_*``; None when it was not started."""
        if 'GLANCE_PLAIN_ENDPOINT' not in v:
            return None
        return cls(v.required('GLANCE_PLAIN_ENDPOINT'),
                   v.path('GLANCE_PLAIN_LOG'))


@dataclasses.dataclass(frozen=True)
class CinderUpstream:
    """The benchmark's cinder-volume with Cinder's own image service."""

    volume_type: str
    volume_log: Path
    rbd_backend: str | None = None
    rbd_az: str | None = None

    def variables(self) -> dict[str, str]:
        """``CINDER_UPSTREAM_*``."""
        v = {'CINDER_UPSTREAM_VOLUME_TYPE': self.volume_type,
             'CINDER_UPSTREAM_VOLUME_LOG': str(self.volume_log)}
        if self.rbd_backend is not None:
            v['CINDER_UPSTREAM_RBD_BACKEND'] = self.rbd_backend
        if self.rbd_az is not None:
            v['CINDER_UPSTREAM_RBD_AZ'] = self.rbd_az
        return v

    @classmethod
    def from_variables(cls, v: Variables) -> CinderUpstream | None:
        """Read ``CINDER_UPSTREAM_*``; None when it was not started."""
        if 'CINDER_UPSTREAM_VOLUME_TYPE' not in v:
            return None
        return cls(v.required('CINDER_UPSTREAM_VOLUME_TYPE'),
                   v.path('CINDER_UPSTREAM_VOLUME_LOG'),
                   v.optional('CINDER_UPSTREAM_RBD_BACKEND'),
                   v.optional('CINDER_UPSTREAM_RBD_AZ'))


@dataclasses.dataclass(frozen=True)
class StackEnv:
    """The variables of a running stack, typed.

    ``ceph``, ``cinder``, ``neutron``, ``glance_plain`` and
    ``cinder_upstream`` are None when the stack runs without them.
    """

    stack: StackInfo
    identity: Identity
    web: Web
    glance: Glance
    tempest: Tempest
    ceph: Ceph | None = None
    cinder: Cinder | None = None
    neutron: Neutron | None = None
    glance_plain: GlancePlain | None = None
    cinder_upstream: CinderUpstream | None = None

    @property
    def directory(self) -> Path:
        """The stack directory."""
        return self.stack.directory

    @property
    def ceph_sites(self) -> tuple[str, ...]:
        """The Ceph sites, in start order (empty without Ceph)."""
        return tuple(self.ceph.sites) if self.ceph else ()

    def parts(self) -> list[EnvPart]:
        """The parts present, in file order."""
        found: list[EnvPart | None] = [
            self.stack, self.identity, self.glance, self.web, self.tempest,
            self.ceph, self.cinder, self.neutron, self.glance_plain,
            self.cinder_upstream]
        return [p for p in found if p is not None]

    def variables(self) -> dict[str, str]:
        """Every variable, by name, in file order."""
        v: dict[str, str] = {}
        for part in self.parts():
            v.update(part.variables())
        return v

    def as_environ(self) -> dict[str, str]:
        """The variables, for the environment of a subprocess."""
        return self.variables()

    def write(self, directory: Path | str | None = None) -> Path:
        """Write ``DIR/stack.env`` (the stack's directory by default)."""
        return write(directory if directory is not None else self.directory,
                     self.variables())

    @classmethod
    def from_parts(cls, stack: StackInfo, tempest: Tempest,
                   parts: Sequence[EnvPart]) -> StackEnv:
        """Assemble the services' parts (one of each type at most).

        :raises EnvError: when Keystone's, the web server's or Glance's
            part is missing.
        """
        fields: dict[str, EnvPart] = {}
        for part in parts:
            for name, kind in _PART_FIELDS.items():
                if isinstance(part, kind):
                    fields[name] = part
        for name in ('identity', 'web', 'glance'):
            if name not in fields:
                raise EnvError('no service gave the %s part of stack.env'
                               % name)
        return cls(stack=stack, tempest=tempest,
                   **fields)  # type: ignore[arg-type]

    @classmethod
    def from_variables(cls, values: Mapping[str, str],
                       source: str = FILE_NAME) -> StackEnv:
        """Build from raw variables.

        :raises EnvError: naming a missing variable.
        """
        v = Variables(values, source)
        ceph = Ceph.from_variables(v)
        return cls(
            stack=StackInfo.from_variables(v),
            identity=Identity.from_variables(v),
            web=Web.from_variables(v),
            glance=Glance.from_variables(v),
            tempest=Tempest.from_variables(v),
            ceph=ceph,
            cinder=Cinder.from_variables(v, tuple(ceph.sites) if ceph
                                         else ()),
            neutron=Neutron.from_variables(v),
            glance_plain=GlancePlain.from_variables(v),
            cinder_upstream=CinderUpstream.from_variables(v))

    @classmethod
    def load(cls, directory: Path | str) -> StackEnv:
        """Read ``DIR/stack.env``.

        :raises FileNotFoundError: when the stack was never brought up.
        :raises EnvError: naming a missing variable.
        """
        target = path(directory)
        return cls.from_variables(parse(target.read_text()), str(target))


_PART_FIELDS: dict[str, type] = {
    'identity': Identity, 'web': Web, 'glance': Glance, 'ceph': Ceph,
    'cinder': Cinder, 'neutron': Neutron, 'glance_plain': GlancePlain,
    'cinder_upstream': CinderUpstream}
