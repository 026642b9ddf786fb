"""The ``cinder-multistore-volume`` launcher, in real processes."""

import subprocess
import sys
import textwrap

from cinder_multistore.image import cinder_adapter


def _python(*args, timeout=120):
    return subprocess.run([sys.executable, *args], capture_output=True,
                          text=True, timeout=timeout)


def test_importing_the_launcher_does_nothing():
    result = _python('-c', textwrap.dedent('''
        import sys
        import cinder_multistore.image.launcher
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
        [cinder_multistore]
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
