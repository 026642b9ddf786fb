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

"""The ``cinder-multistore-volume`` launcher, in real processes."""

import subprocess
import sys
import textwrap
import types

import pytest

from cinder_multistore.image import cinder_adapter
from cinder_multistore.image import launcher


def _python(*args, timeout=120):
    return subprocess.run([sys.executable, *args], capture_output=True,
                          text=True, timeout=timeout)


def test_importing_the_launcher_does_nothing():
    result = _python('-c', textwrap.dedent('''
        import cinder_multistore.image.launcher
        import sys
        print(sorted(m for m in ('cinder', 'eventlet', 'glanceclient')
                     if m in sys.modules))
        '''))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'


def test_launcher_runs_cinder_volume_with_the_driver_installed(tmp_path):
    # A real cinder-volume main(): it reads the config, sets logging up,
    # announces the driver, then fails to start the backend because the
    # database is empty, and exits 1 as cinder-volume does.
    log_file = tmp_path / 'volume.log'
    conf = tmp_path / 'cinder.conf'
    conf.write_text(textwrap.dedent('''
        [DEFAULT]
        enabled_backends = fake
        log_file = %(log)s
        state_path = %(dir)s
        transport_url = fake:/
        [oslo_concurrency]
        lock_path = %(dir)s
        [database]
        connection = sqlite:///%(dir)s/cinder.db
        [multistore_image_service]
        upload_chunk_size = 1048576
        [fake]
        volume_driver = cinder_multistore.no_such_module.Driver
        ''' % {'log': log_file, 'dir': tmp_path}))
    result = _python('-m', 'cinder_multistore.image.launcher',
                     '--config-file', str(conf))
    log = log_file.read_text()
    assert cinder_adapter.ACTIVE_MESSAGE in log
    assert 'Volume service' in log and 'failed to start' in log
    assert result.returncode == 1


def test_console_script_is_declared():
    import configparser
    import pathlib
    setup_cfg = pathlib.Path(__file__).parents[3] / 'setup.cfg'
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    scripts = parser['entry_points']['console_scripts']
    assert ('cinder-multistore-volume = '
            'cinder_multistore.image.launcher:main') in scripts


# --- eventlet monkey patching of every Cinder release ------------------------

class _Imports:
    """Stands in for importlib in the launcher: records, never imports."""

    def __init__(self, has_monkey_patch):
        self.has_monkey_patch = has_monkey_patch
        self.imported = []
        self.patched = []

    def find_spec(self, name):
        assert name == launcher.MONKEY_PATCH_MODULE
        return object() if self.has_monkey_patch else None

    def import_module(self, name):
        self.imported.append(name)
        return types.SimpleNamespace(
            patch=lambda: self.patched.append(name))


@pytest.mark.parametrize('has_monkey_patch, expected', [
    (True, 'cinder.monkey_patch'),  # Cinder 29 and later
    (False, 'cinder.cmd.volume'),  # Cinder 26 to 28: patches on import
])
def test_monkey_patching_follows_the_installed_cinder(monkeypatch,
                                                      has_monkey_patch,
                                                      expected):
    imports = _Imports(has_monkey_patch)
    monkeypatch.setattr(launcher.importlib.util, 'find_spec',
                        imports.find_spec)
    monkeypatch.setattr(launcher.importlib, 'import_module',
                        imports.import_module)
    assert launcher.apply_monkey_patching() == expected
    assert imports.imported == [expected]
    assert imports.patched == ([expected] if has_monkey_patch else [])


def test_monkey_patching_of_the_installed_cinder_comes_first():
    # A real process: eventlet is patched before urllib3, oslo.context or
    # glanceclient are imported, by the module this Cinder patches with.
    result = _python('-c', textwrap.dedent('''
        from cinder_multistore.image import launcher
        import eventlet
        import eventlet.patcher
        import importlib.util
        import sys
        early = []
        patch = eventlet.monkey_patch
        def recording_patch(*args, **kwargs):
            early.append(sorted(
                {'urllib3', 'oslo_context.context', 'glanceclient'}
                & set(sys.modules)))
            return patch(*args, **kwargs)
        eventlet.monkey_patch = recording_patch
        done_by = launcher.apply_monkey_patching()
        has_module = importlib.util.find_spec('cinder.monkey_patch')
        print(done_by == ('cinder.monkey_patch' if has_module
                          else 'cinder.cmd.volume'))
        print(early)
        print(all(eventlet.patcher.is_monkey_patched(m)
                  for m in ('socket', 'thread', 'time')))
        '''))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split('\n')[:3] == ['True', '[[]]', 'True'], (
        result.stdout, result.stderr)
