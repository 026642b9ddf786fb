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

"""The Neutron part of the embedded cloud, without starting it."""

import configparser
import json
import re
import subprocess
import sys
import textwrap

import pytest

from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import neutron
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import tempest_conf
from cinder_multistore_lab.stack import tempest_run


needs_neutron = pytest.mark.skipif(not neutron.available(),
                                   reason='neutron is not installed')


def _state(tmp_path, with_neutron=True):
    state = State(tmp_path)
    state.sql = 'mysql'
    state.ports = {keystone.NAME: 15000, neutron.NAME: 15001,
                   'glance': 15002, 'www': 15003}
    state.options.with_neutron = with_neutron
    state.save()
    return state


def _read(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


# -- neutron.conf and ml2_conf.ini -------------------------------------------

def test_conf_server_options(tmp_path):
    state = _state(tmp_path)
    conf = neutron.conf_sections(state)
    d = conf['DEFAULT']
    assert d['core_plugin'] == 'ml2'
    assert d['service_plugins'] == 'router'
    assert d['auth_strategy'] == 'keystone'
    # No RPC workers: nothing would call them. The API's processes are
    # uwsgi's (one).
    assert (d['rpc_workers'], d['rpc_state_report_workers']) == (0, 0)
    assert 'api_workers' not in d
    assert neutron.PROCESSES == 1
    assert d['notify_nova_on_port_status_changes'] is False
    assert d['notify_nova_on_port_data_changes'] is False
    # api-paste.ini is found next to neutron.conf.
    assert 'api_paste_config' not in d


def test_conf_run_unique_database_and_vhost(tmp_path):
    state = _state(tmp_path)
    conf = neutron.conf_sections(state)
    name = 'cms_%s_neutron' % state.run_id
    assert neutron.db_name(state) == name
    assert conf['database']['connection'].endswith('/%s?charset=utf8'
                                                   % name)
    assert conf['DEFAULT']['transport_url'].endswith('/cms_%s'
                                                     % state.run_id)


def test_conf_service_user(tmp_path):
    state = _state(tmp_path)
    auth = neutron.conf_sections(state)['keystone_authtoken']
    assert auth['username'] == 'neutron'
    assert auth['password'] == state.password('neutron')
    assert auth['project_name'] == keystone.SERVICE_PROJECT
    assert auth['auth_url'] == 'http://127.0.0.1:15000/v3'


def test_conf_placement_and_nova_users(tmp_path):
    state = _state(tmp_path)
    conf = neutron.conf_sections(state)
    for section in ('placement', 'nova'):
        assert conf[section]['username'] == 'neutron'
        assert conf[section]['auth_type'] == 'password'
        assert conf[section]['region_name'] == keystone.REGION
        assert 'service_token_roles_required' not in conf[section]


def test_conf_paths_stay_in_the_stack_dir(tmp_path):
    state = _state(tmp_path)
    conf = neutron.conf_sections(state)
    for value in (conf['DEFAULT']['state_path'],
                  conf['oslo_concurrency']['lock_path']):
        assert str(value).startswith(str(tmp_path))


def test_ml2_local_networks_without_agents():
    ml2 = neutron.ml2_sections()['ml2']
    assert ml2['tenant_network_types'] == 'local'
    assert 'local' in ml2['type_drivers'].split(',')
    assert ml2['mechanism_drivers'] == ''
    assert neutron.ml2_sections()['securitygroup'] == {
        'enable_security_group': True}


def test_endpoint_and_variables(tmp_path):
    state = _state(tmp_path)
    assert neutron.url(state) == 'http://127.0.0.1:15001'
    v = neutron.variables(state)
    assert v['NEUTRON_ENDPOINT'] == 'http://127.0.0.1:15001'
    assert v['NEUTRON_CONF'] == str(tmp_path / 'etc/neutron/neutron.conf')
    assert v['NEUTRON_ML2_CONF'] == str(tmp_path /
                                        'etc/neutron/ml2_conf.ini')
    assert v['NEUTRON_LOG'] == str(tmp_path / 'logs/neutron.log')


def test_config_files_for_the_wsgi_app_and_the_tools(tmp_path):
    env = neutron.environment(tmp_path)
    assert env == {'OS_NEUTRON_CONFIG_DIR': str(tmp_path / 'etc/neutron'),
                   'OS_NEUTRON_CONFIG_FILES': 'neutron.conf;ml2_conf.ini'}
    assert neutron.config_args(tmp_path) == [
        '--config-file', str(tmp_path / 'etc/neutron/neutron.conf'),
        '--config-file', str(tmp_path / 'etc/neutron/ml2_conf.ini')]


def test_enabled(tmp_path):
    assert neutron.enabled(_state(tmp_path, True))
    assert not neutron.enabled(_state(tmp_path, False))
    assert not neutron.enabled(State(tmp_path / 'other'))


def test_configure_not_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(neutron, 'available', lambda: False)
    with pytest.raises(neutron.process.StackError, match='not installed'):
        neutron.configure(_state(tmp_path))


@needs_neutron
def test_configure_writes_the_files(tmp_path):
    state = _state(tmp_path)
    conf = neutron.configure(state)
    assert conf == neutron.conf_path(tmp_path)
    parsed = _read(conf)
    assert parsed['DEFAULT']['core_plugin'] == 'ml2'
    assert parsed['DEFAULT']['rpc_workers'] == '0'
    assert parsed['database']['max_retries'] == '-1'
    ml2 = _read(neutron.ml2_conf_path(tmp_path))
    assert ml2['ml2']['tenant_network_types'] == 'local'
    assert ml2['ml2']['mechanism_drivers'] == ''
    paste = _read(neutron.paste_path(tmp_path))
    assert 'authtoken' in paste['composite:neutronapi_v2_0']['keystone']
    for folder in ('state', 'locks'):
        assert (tmp_path / 'neutron' / folder).is_dir()


@needs_neutron
def test_written_config_loads_in_neutron(tmp_path):
    """Neutron's own option definitions accept every value written."""
    neutron.configure(_state(tmp_path))
    code = textwrap.dedent('''
        import json, sys
        from neutron.conf.plugins.ml2 import config as ml2_config
        from neutron.conf import service
        from neutron import server
        from oslo_config import cfg
        from oslo_service import _options as service_options
        sys.argv = ['neutron-api']
        server._init_configuration()
        ml2_config.register_ml2_plugin_opts()
        service.register_service_opts(service.SERVICE_OPTS)
        cfg.CONF.register_opts(service_options.wsgi_opts)
        c = cfg.CONF
        print(json.dumps({
            'files': c.config_file,
            'core_plugin': c.core_plugin,
            'service_plugins': c.service_plugins,
            'rpc_workers': c.rpc_workers,
            'rpc_state_report_workers': c.rpc_state_report_workers,
            # Renamed from tenant_network_types after 2025.1.
            'project_network_types': getattr(
                c.ml2, 'project_network_types', None)
            or c.ml2.tenant_network_types,
            'type_drivers': c.ml2.type_drivers,
            'mechanism_drivers': c.ml2.mechanism_drivers,
            'auth_strategy': c.auth_strategy,
            'paste': c.find_file(c.api_paste_config),
        }))
    ''')
    env = neutron.process.environ(neutron.environment(tmp_path))
    out = subprocess.run([sys.executable, '-c', code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded['files'] == [str(neutron.conf_path(tmp_path)),
                               str(neutron.ml2_conf_path(tmp_path))]
    assert loaded['core_plugin'] == 'ml2'
    assert loaded['service_plugins'] == ['router']
    assert (loaded['rpc_workers'],
            loaded['rpc_state_report_workers']) == (0, 0)
    assert loaded['project_network_types'] == ['local']
    assert loaded['type_drivers'] == ['local', 'flat']
    assert loaded['mechanism_drivers'] == []
    assert loaded['auth_strategy'] == 'keystone'
    assert loaded['paste'] == str(neutron.paste_path(tmp_path))


# -- tempest.conf ------------------------------------------------------------

def test_tempest_conf_with_neutron(tmp_path):
    conf = _read(tempest_conf.write(_state(tmp_path, True), True))
    assert conf['service_available']['neutron'] == 'true'
    assert conf['auth']['create_isolated_networks'] == 'true'
    net = conf['network']
    assert net['catalog_type'] == 'network'
    assert net['project_network_cidr'] == '10.100.0.0/16'
    assert net['project_network_mask_bits'] == '28'
    assert net['public_network_id'] == ''
    assert net['shared_physical_network'] == 'false'


def test_tempest_conf_without_neutron(tmp_path):
    conf = _read(tempest_conf.write(_state(tmp_path, False), True))
    assert conf['service_available']['neutron'] == 'false'
    assert conf['auth']['create_isolated_networks'] == 'false'
    assert not conf.has_section('network')


# -- the upstream volume API suite that Neutron makes runnable ---------------

def test_volume_api_suite_selection():
    regex = re.compile(tempest_run.test_regex(
        tempest_run.UPSTREAM_VOLUME_API_TESTS))
    assert regex.search('tempest.api.volume.test_volumes_actions.'
                        'VolumesActionsTest.test_volume_upload[id-1,image]')
    assert regex.search('tempest.api.volume.admin.test_volume_types.'
                        'VolumeTypesTest.test_volume_crud_with_volume_type')
    assert not regex.search('tempest.api.volume_x.test_y.Z.test_z')
    assert not regex.search('tempest.api.image.v2.test_images.X.test_y')


def test_exclusions_have_reasons():
    for test_id, reason in tempest_run.EXCLUDED.items():
        assert reason.strip(), test_id
    for test_id in tempest_run.UPSTREAM_VOLUME_API_EXCLUDED:
        assert test_id in tempest_run.EXCLUDED
        assert test_id.startswith('tempest.api.volume.')


def test_exclude_regex_ids_and_patterns():
    regex = re.compile(tempest_run.exclude_regex([
        'tempest.api.volume.test_a.A.test_one',
        r'B\.test_two']))
    assert regex.search('tempest.api.volume.test_a.A.test_one[id-1,smoke]')
    assert regex.search('tempest.api.volume.test_a.A.test_one')
    assert not regex.search('tempest.api.volume.test_a.A.test_one_more')
    assert regex.search('tempest.api.volume.test_b.B.test_two[id-2]')
    # A module's id leaves out its tests, not a module named like it.
    module = re.compile(tempest_run.exclude_regex(['pkg.api.test_site']))
    assert module.search('pkg.api.test_site.SiteTest.test_x[id-3]')
    assert not module.search('pkg.api.test_site_more.T.test_x')
    assert tempest_run.exclude_regex([]) == ''
    assert re.compile(tempest_run.exclude_regex(
        tempest_run.EXCLUDED)).search(
            'tempest.api.image.v2.admin.test_images.'
            'HashCalculationRemoteDeletionTest.'
            'test_hash_calculation_cancelled[id-1]')


def test_volume_disk_formats_follow_tempest(monkeypatch):
    from oslo_config import cfg
    from tempest import config
    installed = {o.name: o for o in config.VolumeGroup}['disk_format']
    assert tempest_conf.volume_disk_formats() == (
        ['raw', 'qcow2'] if isinstance(installed, cfg.ListOpt) else 'raw')
    monkeypatch.setattr(config, 'VolumeGroup',
                        [cfg.ListOpt('disk_format', default=['raw'])])
    assert tempest_conf.volume_disk_formats() == ['raw', 'qcow2']
    monkeypatch.setattr(config, 'VolumeGroup',
                        [cfg.StrOpt('disk_format', default='raw')])
    assert tempest_conf.volume_disk_formats() == 'raw'
