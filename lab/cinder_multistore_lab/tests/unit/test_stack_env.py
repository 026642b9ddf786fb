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

"""stack.env: written, sourced by a shell, read back as a StackEnv."""

from __future__ import annotations

import dataclasses
from pathlib import Path
import subprocess

import pytest

from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack.env import StackEnv


def _env(directory: Path, **changes: object) -> StackEnv:
    creds = stack_env.Credentials
    made = StackEnv(
        stack=stack_env.StackInfo(
            directory=directory, run_id='abcd1234', sql='mysql',
            python=Path('/venv/bin/python'), release='2026.1',
            glance_server='uwsgi', versions='glance=31.0.0 cinder=27.0.0'),
        identity=stack_env.Identity(
            auth_url='http://127.0.0.1:5000/v3',
            admin=creds('admin', 'pw with spaces', 'admin'),
            users={'DEMO': creds('demo', "it's \"quoted\" $HOME", 'demo'),
                   'ALT': creds('alt', 'p;w|&`x`', 'alt')},
            user_domain_name='Default', project_domain_name='Default',
            region='RegionOne', log=directory / 'logs/keystone.log'),
        web=stack_env.Web('http://127.0.0.1:8000/image.raw',
                          'http://127.0.0.1:8000/image.qcow2'),
        glance=stack_env.Glance(
            endpoint='http://127.0.0.1:9292',
            stores=('alpha', 'beta', 'web', 'rbd_central'),
            usable_stores=('alpha', 'beta', 'rbd_central'),
            readonly_stores=('web',), default_store='alpha',
            small_store='beta',
            reserved_stores=('os_glance_staging_store',
                             'os_glance_tasks_store'),
            store_dirs={'alpha': directory / 'stores/alpha',
                        'beta': directory / 'stores/with space'},
            staging_dir=directory / 'stores/staging',
            tasks_dir=directory / 'stores/tasks',
            conf=directory / 'etc/glance/glance-api.conf',
            log=directory / 'logs/glance.log', image_id='img-1',
            rbd_stores={'central': 'rbd_central'}),
        tempest=stack_env.Tempest(directory / 'tempest.conf', directory,
                                  'tempest.conf'),
        ceph=stack_env.Ceph(
            sites={'central': stack_env.CephSite(
                conf=directory / 'ceph/central/ceph.conf', fsid='f-1',
                mon_host='[v2:127.0.0.1:21000,v1:127.0.0.1:21001]',
                admin_keyring=directory / 'k.admin',
                glance_keyring=directory / 'k.glance',
                cinder_keyring=directory / 'k.cinder',
                log_dir=directory / 'ceph/central/log')},
            images_pool='images', volumes_pool='volumes'),
        cinder=stack_env.Cinder(
            api_url='http://127.0.0.1:8776',
            conf=directory / 'etc/cinder/cinder.conf',
            api_log=directory / 'logs/cinder-api.log',
            scheduler_log=directory / 'logs/cinder-scheduler.log',
            volume_log=directory / 'logs/cinder-volume.log',
            volume_type='default', backend_host='h@nfs',
            nfs_share='127.0.0.1:/share', nfs_mount=directory / 'mnt',
            image_driver='multistore', default_az='nova',
            sites={'central': stack_env.CinderSite(
                'rbd-central', 'central', 'rbd_central', 'h@rbd_central')}),
    )
    return dataclasses.replace(made, **changes)


def test_round_trip(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.write()
    assert StackEnv.load(tmp_path) == env


def test_round_trip_of_the_optional_parts(tmp_path: Path) -> None:
    env = _env(tmp_path, ceph=None, cinder=None,
               neutron=stack_env.Neutron('http://127.0.0.1:9696',
                                         tmp_path / 'n.conf',
                                         tmp_path / 'ml2.ini',
                                         tmp_path / 'n.log'),
               glance_plain=stack_env.GlancePlain('http://127.0.0.1:9393',
                                                  tmp_path / 'plain.log'),
               cinder_upstream=stack_env.CinderUpstream(
                   'upstream-image-service', tmp_path / 'up.log'))
    env.write()
    loaded = StackEnv.load(tmp_path)
    assert loaded == env
    assert loaded.ceph is None and loaded.cinder is None
    assert loaded.ceph_sites == ()


def test_the_file_keeps_its_variable_names(tmp_path: Path) -> None:
    _env(tmp_path).write()
    raw = stack_env.load(tmp_path)
    for name in ('OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD',
                 'OS_PROJECT_NAME', 'OS_USER_DOMAIN_NAME',
                 'OS_IDENTITY_API_VERSION', 'OS_AUTH_TYPE', 'STACK_DIR',
                 'STACK_RELEASE', 'STACK_PYTHON', 'GLANCE_ENDPOINT',
                 'GLANCE_STORE_DIR_alpha', 'GLANCE_RBD_STORE_central',
                 'CINDER_API_URL', 'CINDER_VOLUME_TYPE_central',
                 'CEPH_CONF_central', 'DEMO_PASSWORD', 'TEMPEST_CONF'):
        assert name in raw, name
    assert raw['GLANCE_STORES'] == 'alpha,beta,web,rbd_central'
    assert 'CINDER_ENDPOINT' not in raw


def test_a_shell_sources_quoted_values(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.write()
    out = subprocess.run(
        ['bash', '-c', 'set -eu; source "$1"; printf "%s\\n" '
         '"$OS_PASSWORD" "$DEMO_PASSWORD" "$ALT_PASSWORD" '
         '"$GLANCE_STORE_DIR_beta"', 'sh', str(stack_env.path(tmp_path))],
        capture_output=True, text=True, check=True, env={})
    assert out.stdout.splitlines() == [
        'pw with spaces', "it's \"quoted\" $HOME", 'p;w|&`x`',
        str(tmp_path / 'stores/with space')]


def test_as_environ_holds_every_variable_as_text(tmp_path: Path) -> None:
    env = _env(tmp_path)
    environ = env.as_environ()
    assert environ['OS_PASSWORD'] == 'pw with spaces'
    assert environ['STACK_DIR'] == str(tmp_path)
    assert all(isinstance(v, str) for v in environ.values())
    assert environ == env.variables()


def test_missing_variable_names_it_and_the_file(tmp_path: Path) -> None:
    _env(tmp_path).write()
    path = stack_env.path(tmp_path)
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith('export GLANCE_ENDPOINT=')]
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(stack_env.EnvError) as info:
        StackEnv.load(tmp_path)
    assert 'GLANCE_ENDPOINT' in str(info.value)
    assert str(path) in str(info.value)


def test_missing_site_variable_names_it(tmp_path: Path) -> None:
    _env(tmp_path).write()
    path = stack_env.path(tmp_path)
    path.write_text(''.join(
        line + '\n' for line in path.read_text().splitlines()
        if not line.startswith('export CEPH_FSID_central=')))
    with pytest.raises(stack_env.EnvError, match='CEPH_FSID_central'):
        StackEnv.load(tmp_path)


def test_no_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StackEnv.load(tmp_path)


def test_lookups_of_what_the_stack_lacks_are_clear(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with pytest.raises(stack_env.EnvError, match='edge'):
        env.ceph.site('edge')
    with pytest.raises(stack_env.EnvError, match='gamma'):
        env.glance.store_dir('gamma')
    with pytest.raises(stack_env.EnvError, match='NOBODY'):
        env.identity.credentials('NOBODY')
    assert env.identity.credentials('os').username == 'admin'
    assert env.identity.credentials('DEMO').project_name == 'demo'


def test_bad_variable_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        stack_env.write(tmp_path, {'NOT-A-NAME': 'x'})


def test_from_parts_needs_the_base_parts(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert StackEnv.from_parts(env.stack, env.tempest, [
        env.identity, env.web, env.glance, env.ceph, env.cinder]) == env
    with pytest.raises(stack_env.EnvError, match='glance'):
        StackEnv.from_parts(env.stack, env.tempest,
                            [env.identity, env.web])
