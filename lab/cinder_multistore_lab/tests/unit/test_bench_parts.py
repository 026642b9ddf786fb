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

"""The benchmark's helpers that need no cloud: sizes, data, peak RSS."""

import os
import subprocess

import pytest

from cinder_multistore_lab.bench import bound
from cinder_multistore_lab.bench import data
from cinder_multistore_lab.bench import footprint
from cinder_multistore_lab.bench import runner
from cinder_multistore_lab.bench import usage


@pytest.mark.parametrize('text,expected', [
    ('256M', 256 << 20), ('1G', 1 << 30), ('4g', 4 << 30),
    ('8MiB', 8 << 20), ('1048576', 1 << 20), ('1.5G', 3 << 29)])
def test_parse_size(text, expected):
    assert runner.parse_size(text) == expected


def test_data_file_blocks_differ_and_body_streams_it(tmp_path):
    size = (9 << 20) + 3
    path = data.make(tmp_path, size)
    assert path.stat().st_size == size
    raw = path.read_bytes()
    assert raw[:4 << 20] != raw[4 << 20:8 << 20]
    assert data.make(tmp_path, size) == path  # kept, not rewritten
    body = data.Body(path)
    assert len(body) == size
    blocks = list(body)
    assert max(map(len, blocks)) == data.BLOCK
    assert b''.join(blocks) == raw
    assert not hasattr(body, 'read')  # sent in whole blocks


def test_copy_into_overwrites_the_start(tmp_path):
    source = data.make(tmp_path, 3 << 20)
    target = tmp_path / 'volume'
    target.write_bytes(b'\0' * (4 << 20))
    data.copy_into(source, target, 3 << 20)
    content = target.read_bytes()
    assert content[:3 << 20] == source.read_bytes()
    assert content[3 << 20:] == b'\0' * (1 << 20)


def test_peak_rss_of_own_process_tree():
    monitor = usage.PeakRSS(os.getpid())
    monitor.start()
    assert os.getpid() in usage.tree(os.getpid())
    ballast = bytearray(64 << 20)
    ballast[::4096] = b'x' * len(ballast[::4096])
    peak = monitor.stop()
    del ballast
    assert peak is not None and peak >= 64


def test_peak_of_a_gone_process_is_none():
    assert usage.peak_mib(2 ** 22 + 12345) is None


def test_cpu_seconds_and_machine_busy_grow_with_work():
    pids = [os.getpid()]
    busy = usage.MachineBusy()
    before = usage.cpu_seconds(pids)
    busy.start()
    total = 0
    for i in range(3_000_000):
        total += i
    assert usage.cpu_seconds(pids) > before
    assert 0 < busy.stop() <= 100


def test_rounds_rotate_the_case_order():
    cases = ['a', 'b', 'c']
    orders = [runner.rotated(cases, r) for r in range(3)]
    assert orders == [['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b']]
    assert {o[0] for o in orders} == set(cases)
    assert runner.rotated([], 2) == []


# -- hashing model -----------------------------------------------------------

@pytest.mark.parametrize('case', bound.CASES)
def test_model_case_writes_every_copy_and_leaves_nothing(tmp_path, case,
                                                         monkeypatch):
    path = data.make(tmp_path / 'data', (3 << 20) + 5)
    written = []
    real = bound.store_write

    def spy(target, algorithms, blocks):
        size = real(target, algorithms, blocks)
        written.append((target.name, tuple(algorithms), size,
                        target.read_bytes() == path.read_bytes()))
        return size
    monkeypatch.setattr(bound, 'store_write', spy)
    seconds, cpu = bound.run(case, path, tmp_path / 'work', depth=2)
    assert seconds > 0 and cpu >= 0
    assert not (tmp_path / 'work').exists()
    copies = bound.copy_hashes('sha1')[case]
    expected = [('primary', bound.PRIMARY_HASHES)]
    expected += [('copy%d' % n, copies) for n in range(2 if copies else 0)]
    assert sorted((name, algos) for name, algos, _s, _same in written) == (
        sorted(expected))
    assert all(size == (3 << 20) + 5 and same
               for _n, _a, size, same in written)


def test_model_copy_failure_is_raised_without_blocking(tmp_path):
    path = data.make(tmp_path / 'data', 8 << 20)
    with pytest.raises(ValueError):
        bound.run('model-colocated-3', path, tmp_path / 'work', depth=1,
                  copy_algorithm='no-such-hash')
    assert not (tmp_path / 'work').exists()


# -- case selection ----------------------------------------------------------

def test_every_case_by_default_in_round_order():
    options = runner.Options(sizes=[1 << 20])
    assert options.selected(runner.ALL_CASES) == list(runner.ALL_CASES)
    assert len(set(runner.ALL_CASES)) == len(runner.ALL_CASES)


def test_selected_cases_keep_their_order():
    options = runner.Options(sizes=[1 << 20], cases=frozenset(
        {'model-single', 'colocated-3'}))
    assert options.selected(runner.ALL_CASES) == ['colocated-3',
                                                  'model-single']
    assert options.selected(runner.CINDER_CASES) == []


def test_unknown_case_names_every_case():
    with pytest.raises(ValueError) as raised:
        runner.Options(sizes=[1 << 20], cases=frozenset({'colocated'}))
    assert 'unknown case(s) colocated' in str(raised.value)
    assert 'colocated-3' in str(raised.value)


def test_cli_refuses_an_unknown_case(capsys):
    from cinder_multistore_lab import cli
    args = cli.build_parser().parse_args(['bench', '--cases', 'nope'])
    assert args.func(args) == 2
    assert 'unknown case(s) nope' in capsys.readouterr().err


def _service(directory, name):
    """A child in its own session with a pid file, as the stack starts one.

    The test's own session may have its leader outside this PID namespace
    (``os.getsid(0)`` is 0 in some CI containers), so it starts one.
    """
    child = subprocess.Popen(['sleep', '60'], start_new_session=True)
    run = directory / 'run'
    run.mkdir(exist_ok=True)
    with open('/proc/%d/stat' % child.pid) as f:
        started = f.read().rpartition(')')[2].split()[19]
    (run / ('%s.pid' % name)).write_text('%d %s\n' % (child.pid, started))
    return child


def test_cloud_memory_counts_the_services_sessions(tmp_path):
    child = _service(tmp_path, 'glance-plain')
    try:
        reading = footprint.sample(tmp_path)
        assert reading['processes'] == 1
        own = footprint.memory_kib(child.pid) / 1024.0
        assert reading['services_rss_mib']['glance-plain'] >= own > 0
        # A reference service of the benchmark is not part of the cloud.
        assert reading['reference_rss_mib'] == reading['stack_rss_mib']
        assert reading['cloud_rss_mib'] == pytest.approx(
            reading['shared_rss_mib'])
        memory = footprint.CloudMemory(tmp_path, interval=0.05).start()
        peaks = memory.stop()
        assert memory.samples >= 1
        assert peaks['stack_rss_mib'] >= own
        assert set(peaks) == set(footprint.CloudMemory.KEYS)
    finally:
        child.kill()
        child.wait()


def test_cloud_memory_of_an_empty_directory(tmp_path):
    reading = footprint.sample(tmp_path)
    assert reading['stack_rss_mib'] == 0 and reading['processes'] == 0


def test_timed_up_times_and_samples(tmp_path):
    result = footprint.timed_up(lambda d, **kw: kw, tmp_path, x=1)
    assert result['stack_up_s'] >= 0
    assert 'cloud_rss_mib' in result['up_peaks']
