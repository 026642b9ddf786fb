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

"""One option namespace per side: groups, entry points, samples, old group."""

import configparser
import pathlib
import subprocess
import sys

from oslo_config import cfg
import pytest
from stevedore import extension

from cinder_multistore.glance import opts as glance_opts
from cinder_multistore.image import opts as cinder_opts

TOP = pathlib.Path(__file__).resolve().parents[2]
GENERATOR_CONFIGS = {
    'glance-api.conf': 'cinder-multistore-glance.conf.sample',
    'cinder.conf': 'cinder-multistore-cinder.conf.sample',
}


def _names(list_opts):
    return {opt.name for _group, group_opts in list_opts() for opt in
            group_opts}


def test_each_side_has_its_own_group_and_options():
    assert [group for group, _ in glance_opts.list_opts()] == [
        'multistore_filter']
    assert [group for group, _ in cinder_opts.list_opts()] == [
        'multistore_image_service']
    glance_names = _names(glance_opts.list_opts)
    cinder_names = _names(cinder_opts.list_opts)
    assert 'colocation' in glance_names
    assert 'upload_chunk_size' in cinder_names
    assert not glance_names & cinder_names


def test_entry_points_name_one_side_each():
    found = {ext.name: ext.plugin for ext in extension.ExtensionManager(
        'oslo.config.opts') if ext.name.startswith('cinder_multistore')}
    assert found == {
        'cinder_multistore.glance': glance_opts.list_opts,
        'cinder_multistore.cinder': cinder_opts.list_opts,
    }


@pytest.mark.parametrize('module,group,name,value', [
    (glance_opts, 'multistore_filter', 'buffer_chunks', 3),
    (cinder_opts, 'multistore_image_service', 'upload_chunk_size', 65536),
])
def test_the_former_shared_group_is_still_read(tmp_path, module, group,
                                               name, value):
    conf_file = tmp_path / 'service.conf'
    conf_file.write_text('[cinder_multistore]\n%s = %d\n' % (name, value))
    conf = cfg.ConfigOpts()
    module.register_opts(conf)
    conf(['--config-file', str(conf_file)])
    assert conf[group][name] == value


def test_the_new_group_wins_over_the_former_one(tmp_path):
    conf_file = tmp_path / 'glance-api.conf'
    conf_file.write_text('[cinder_multistore]\nbuffer_chunks = 3\n'
                         '[multistore_filter]\nbuffer_chunks = 5\n')
    conf = cfg.ConfigOpts()
    glance_opts.register_opts(conf)
    conf(['--config-file', str(conf_file)])
    assert conf.multistore_filter.buffer_chunks == 5


@pytest.mark.parametrize('generator_conf,sample', GENERATOR_CONFIGS.items())
def test_committed_samples_are_what_genconfig_writes(tmp_path,
                                                     generator_conf, sample):
    config = configparser.ConfigParser()
    config.read(TOP / 'etc' / 'oslo-config-generator' / generator_conf)
    assert config['DEFAULT']['output_file'] == 'etc/' + sample
    out = tmp_path / sample
    subprocess.run(
        [sys.executable, '-m', 'oslo_config.generator', '--config-file',
         str(TOP / 'etc' / 'oslo-config-generator' / generator_conf),
         '--output-file', str(out)], check=True, cwd=TOP)
    assert out.read_text() == (TOP / 'etc' / sample).read_text(), (
        'etc/%s is out of date: run tox -e genconfig' % sample)


def test_a_glance_sample_lists_no_cinder_option_and_the_reverse():
    glance_sample = (TOP / 'etc' / GENERATOR_CONFIGS['glance-api.conf'])
    cinder_sample = (TOP / 'etc' / GENERATOR_CONFIGS['cinder.conf'])
    for name in _names(cinder_opts.list_opts):
        assert '#%s =' % name not in glance_sample.read_text()
        assert '#%s =' % name in cinder_sample.read_text()
    for name in _names(glance_opts.list_opts):
        assert '#%s =' % name not in cinder_sample.read_text()
        assert '#%s =' % name in glance_sample.read_text()
