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

"""The benchmark report: statistics, target checks, tables and chart."""

import copy
import io
import json

from docutils import core
from hypothesis import given
from hypothesis import strategies as st
import pytest

from cinder_multistore_lab.bench import report


MIB256 = 268435456
GIB = 1073741824
SMALL, LARGE = str(MIB256), str(GIB)
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _entry(seconds, glance=None, cinder=None):
    entry = {'seconds': seconds}
    if glance is not None:
        entry['glance_rss_mib'] = glance
    if cinder is not None:
        entry['cinder_rss_mib'] = cinder
    return entry


def full_results():
    """Every case; Cinder only at 1 GiB; some targets met, some not."""
    return {
        'sizes': [MIB256, GIB],
        'runs': 3,
        'machine': {'cpus': 2, 'python': '3.11.7'},
        'cases': {
            'glance-no-filter': {
                SMALL: _entry([1.5, 1.4, 1.6], [142.0, 143.1, 142.5]),
                LARGE: _entry([6.0, 5.8, 6.2], [150.0, 151.0, 150.5])},
            'glance-filter': {
                SMALL: _entry([1.6, 1.5, 1.7], [144.0, 144.0, 144.0]),
                LARGE: _entry([6.1, 6.0, 6.4], [152.0, 153.0, 152.5])},
            'colocated-3': {
                SMALL: _entry([2.0, 2.2, 1.9], [146.0, 146.5, 145.0]),
                LARGE: _entry([8.0, 8.4, 7.9], [160.0, 158.0, 159.0])},
            'upstream-copy-image': {
                SMALL: _entry([4.5, 4.6, 4.4], [145.0, 145.0, 145.0]),
                LARGE: _entry([18.0, 18.5, 17.5], [175.2, 170.0, 171.0])},
            'dd-fsync-3': {
                SMALL: _entry([1.0, 1.1, 0.9]),
                LARGE: _entry([4.0, 4.1, 3.9])},
            'cinder-multistore': {
                LARGE: _entry([12.0, 11.8, 12.2], [150.0, 150.0, 150.0],
                              [210.0, 212.0, 211.0])},
            'cinder-upstream': {
                LARGE: _entry([11.0, 11.5, 11.2], [149.0, 149.0, 149.0],
                              [260.0, 255.0, 250.0])},
        },
    }


def _by_name_size(checks):
    return {(c['name'], c['size']): c for c in checks}


COLOCATED_SINGLE = report.RATIOS[0].name
COLOCATED_UPSTREAM = report.RATIOS[1].name
FILTER = report.RATIOS[2].name
CINDER = report.RATIOS[3].name


# -- summarize ---------------------------------------------------------------

def test_summarize_statistics():
    stats = report.summarize(full_results())['glance-no-filter'][SMALL]
    assert stats['median'] == 1.5
    assert stats['min'] == 1.4
    assert stats['max'] == 1.6
    assert stats['mb_per_s'] == pytest.approx(MIB256 / 1e6 / 1.5)
    assert stats['runs'] == 3
    assert stats['glance_rss_mib'] == 143.1
    assert stats['cinder_rss_mib'] is None


def test_summarize_even_runs_median_and_cinder_rss():
    results = {'sizes': [GIB], 'cases': {'cinder-multistore': {
        LARGE: _entry([10.0, 14.0, 11.0, 12.0], [1.0], [200.0, 220.0])}}}
    stats = report.summarize(results)['cinder-multistore'][LARGE]
    assert stats['median'] == 11.5
    assert stats['runs'] == 4
    assert stats['cinder_rss_mib'] == 220.0


def test_summarize_only_what_ran():
    summary = report.summarize(full_results())
    assert set(summary['cinder-multistore']) == {LARGE}
    assert set(summary['colocated-3']) == {SMALL, LARGE}
    assert set(summary) == set(full_results()['cases'])


def test_summarize_missing_or_empty_rss_and_timings():
    results = {'sizes': [MIB256], 'cases': {
        'glance-filter': {SMALL: {'seconds': [2.0], 'glance_rss_mib': []}},
        'colocated-3': {SMALL: {'seconds': [3.0],
                                'glance_rss_mib': [None, 150.0]}},
        'dd-fsync-3': {SMALL: {'seconds': []}},
    }}
    summary = report.summarize(results)
    assert summary['glance-filter'][SMALL]['glance_rss_mib'] is None
    assert summary['colocated-3'][SMALL]['glance_rss_mib'] == 150.0
    assert 'dd-fsync-3' not in summary


@given(st.lists(st.floats(min_value=0.01, max_value=1e4), min_size=1,
                max_size=9))
def test_summarize_median_within_range(seconds):
    results = {'sizes': [GIB], 'cases': {'glance-filter': {
        LARGE: {'seconds': seconds}}}}
    stats = report.summarize(results)['glance-filter'][LARGE]
    assert stats['min'] <= stats['median'] <= stats['max']
    assert stats['mb_per_s'] > 0


# -- ratios ------------------------------------------------------------------

def test_ratios_values_and_targets():
    checks = _by_name_size(report.ratios(full_results()))
    expected = {
        (COLOCATED_SINGLE, SMALL): (2.0 / 1.6, 1.5, True),
        (COLOCATED_SINGLE, LARGE): (8.0 / 6.1, 1.5, True),
        (COLOCATED_UPSTREAM, SMALL): (2.0 / 4.5, 0.4, False),
        (COLOCATED_UPSTREAM, LARGE): (8.0 / 18.0, 0.4, False),
        (FILTER, SMALL): (1.6 / 1.5, 1.03, False),
        (FILTER, LARGE): (6.1 / 6.0, 1.03, True),
        (CINDER, LARGE): (12.0 / 11.2, 1.0, False),
    }
    for key, (value, target, met) in expected.items():
        check = checks.pop(key)
        assert check['value'] == pytest.approx(value), key
        assert check['target'] == target
        assert check['op'] == '<='
        assert check['met'] is met, key
        assert check['detail']
    # What is left is the RSS growth.
    assert [c['size'] for c in checks.values()] == [None]


def test_ratio_met_at_exact_target():
    results = {'sizes': [GIB], 'cases': {
        'cinder-multistore': {LARGE: _entry([10.0])},
        'cinder-upstream': {LARGE: _entry([10.0])}}}
    [check] = report.ratios(results)
    assert check['value'] == 1.0
    assert check['met'] is True


def test_ratios_names_and_order():
    names = [c['name'] for c in report.ratios(full_results())]
    assert names == [
        'co-located 3 stores / single store (both through the filter)',
        'co-located 3 stores / single store (both through the filter)',
        'co-located 3 stores / upstream upload + copy-image',
        'co-located 3 stores / upstream upload + copy-image',
        'single store with the filter / without it',
        'single store with the filter / without it',
        'Cinder upload-to-image: this driver / upstream image service',
        'Glance worker peak RSS growth, 1 GiB minus 256 MiB (MiB)',
    ]


def test_ratios_skip_missing_cases_and_sizes():
    results = full_results()
    del results['cases']['cinder-upstream']
    del results['cases']['upstream-copy-image']
    del results['cases']['glance-filter'][SMALL]
    checks = _by_name_size(report.ratios(results))
    assert set(checks) == {
        (COLOCATED_SINGLE, LARGE), (FILTER, LARGE),
        ('Glance worker peak RSS growth, 1 GiB minus 256 MiB (MiB)', None)}


def test_ratios_without_cinder_or_anything():
    results = full_results()
    for case in ('cinder-multistore', 'cinder-upstream'):
        del results['cases'][case]
    assert CINDER not in {c['name'] for c in report.ratios(results)}
    assert report.ratios({'sizes': [], 'runs': 0, 'cases': {}}) == []
    assert report.ratios({}) == []


def test_rss_growth_largest_minus_smallest():
    checks = report.ratios(full_results())
    [growth] = [c for c in checks if c['size'] is None]
    # Glance cases only: 175.2 (upstream-copy-image, 1 GiB) minus 146.5
    # (colocated-3, 256 MiB); the Cinder cases' 150 MiB does not count.
    assert growth['value'] == pytest.approx(175.2 - 146.5)
    assert growth['target'] == 32.0
    assert growth['met'] is True
    assert '1 GiB' in growth['detail'] and '256 MiB' in growth['detail']


def test_rss_growth_uses_extreme_sizes_not_run_order():
    sizes = [GIB, 4 * GIB, MIB256]
    results = {'sizes': sizes, 'cases': {'glance-filter': {
        str(GIB): _entry([1.0], [160.0]),
        str(4 * GIB): _entry([4.0], [200.0]),
        str(MIB256): _entry([0.3], [150.0])}}}
    [growth] = report.ratios(results)
    assert growth['name'] == (
        'Glance worker peak RSS growth, 4 GiB minus 256 MiB (MiB)')
    assert growth['value'] == pytest.approx(50.0)
    assert growth['met'] is False
    assert 'largest size' in growth['detail']
    assert 'smallest size' in growth['detail']


def test_rss_growth_needs_two_sizes_with_rss():
    results = full_results()
    for by_size in results['cases'].values():
        by_size.get(SMALL, {}).pop('glance_rss_mib', None)
    assert all(c['size'] is not None for c in report.ratios(results))


# -- text --------------------------------------------------------------------

@pytest.mark.parametrize('n, text', [
    (268435456, '256 MiB'),
    (1073741824, '1 GiB'),
    (4294967296, '4 GiB'),
    (8388608, '8 MiB'),
    (1610612736, '1.5 GiB'),
    (2048, '2 KiB'),
    (512, '512 B'),
])
def test_human_size(n, text):
    assert report.human_size(n) == text


def test_format_table():
    table = report.format_table(full_results())
    for name, label in report.CASES:
        assert (label in table) is (name not in report.RBD_CASES)
    assert '== 256 MiB ==' in table
    assert '== 1 GiB ==' in table
    assert '== targets ==' in table
    assert table.index('== 256 MiB ==') < table.index('== 1 GiB ==')
    assert 'NOT met' in table
    assert '<= 1.5' in table
    assert '1.250' in table          # co-located / single store at 256 MiB


def test_format_table_rows_in_case_order_and_aligned():
    table = report.format_table(full_results())
    block = table.split('== 1 GiB ==')[1].split('\n\n')[0]
    lines = block.strip('\n').splitlines()
    labels = [label for name, label in report.CASES
              if name not in report.RBD_CASES]
    assert len(lines) == 2 + len(labels)
    for line, label in zip(lines[2:], labels):
        assert line.startswith(label + ' ')
    # Numbers are right-aligned: each row's median ends in one column.
    ends = {line.index('.') for line in lines[2:]}
    assert len(ends) == 1
    assert '-' in lines[2].split()      # no Cinder RSS for a Glance case


def test_format_table_partial_and_empty():
    results = full_results()
    del results['cases']['cinder-multistore']
    table = report.format_table(results)
    assert 'Cinder upload-to-image, this driver' not in table
    assert report.format_table({'sizes': [], 'cases': {}}).strip()


def test_format_rst_list_tables():
    rst = report.format_rst(full_results(), chart_name='bench.png')
    lines = rst.splitlines()
    assert lines[0] == '.. image:: bench.png'
    assert rst.count('.. list-table::') == 3
    assert rst.count('   :header-rows: 1') == 3
    rows = [line for line in lines if line.startswith('   * - ')]
    cells = [line for line in lines if line.startswith('     - ')]
    # Header plus one row per case at each size, plus the checks.
    assert len(rows) == (1 + 5) + (1 + 7) + (1 + 8)
    assert len(cells) == (len(report.CASE_HEADER) - 1) * (6 + 8) + 4 * 9
    assert '**NOT met**' in rst
    assert '     - -\n' not in rst
    for line in lines:
        assert line == line.rstrip()
        assert not line or line.startswith(('.. ', '   '))


def test_format_rst_without_chart():
    rst = report.format_rst(full_results())
    assert '.. image::' not in rst
    assert rst.startswith('.. list-table:: Upload of 256 MiB\n')


def _parsed_tables(rst):
    """How many tables docutils finds in ``rst``; any warning fails."""
    warnings = io.StringIO()
    doctree = core.publish_doctree(
        rst, settings_overrides={'report_level': 1, 'halt_level': 5,
                                 'warning_stream': warnings})
    assert warnings.getvalue() == ''
    return len(list(doctree.findall(lambda node: node.tagname == 'table')))


def test_format_rst_parses():
    rst = report.format_rst(full_results(), chart_name='bench.png')
    assert _parsed_tables(rst) == 3


def test_write_json_round_trip(tmp_path):
    results = full_results()
    path = report.write_json(results, str(tmp_path / 'bench.json'))
    assert path == tmp_path / 'bench.json'
    document = json.loads(path.read_text())
    assert document['results'] == results
    assert document['summary'] == report.summarize(results)
    assert document['ratios'] == report.ratios(results)
    assert path.read_text().startswith('{\n  "ratios": ')


def test_inputs_not_modified():
    results = full_results()
    before = copy.deepcopy(results)
    report.format_table(results)
    report.format_rst(results)
    report.ratios(results)
    assert results == before


# -- chart -------------------------------------------------------------------

def _partial_results():
    results = full_results()
    results['sizes'] = [MIB256]
    results['cases'] = {'glance-no-filter': {SMALL: _entry([1.0])},
                        'glance-filter': {SMALL: _entry([1.1], [])}}
    return results


@pytest.mark.parametrize('results', [
    full_results(), _partial_results(), {'sizes': [], 'cases': {}}],
    ids=['full', 'partial', 'empty'])
def test_draw_chart_writes_png(tmp_path, results):
    path = report.draw_chart(results, tmp_path / 'bench.png')
    assert path == tmp_path / 'bench.png'
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 1000


# -- hashing model -----------------------------------------------------------

def _with_model():
    results = full_results()
    results['model'] = {
        'model-single': {SMALL: {'seconds': [1.0, 0.9, 1.1],
                                 'cpu_s': [1.0, 0.9, 1.0]},
                         LARGE: {'seconds': [4.0, 4.2, 3.8],
                                 'cpu_s': [4.0, 4.1, 3.9]}},
        'model-colocated-3': {LARGE: {'seconds': [6.4, 6.6, 6.5],
                                      'cpu_s': [11.0, 11.2, 11.1]}},
        'model-colocated-3-no-md5': {LARGE: {'seconds': [4.1, 4.0, 4.2],
                                             'cpu_s': [6.0, 6.1, 6.2]}},
    }
    return results


def test_model_block_divides_by_one_store_at_each_size():
    text = report.format_table(_with_model())
    block = text.split('== %s ==' % report.MODEL_TITLE)[1].strip()
    lines = block.splitlines()
    assert lines[0].split()[:2] == ['model', 'case']
    rows = lines[2:]
    assert len(rows) == 4
    assert rows[0].startswith('one store') and rows[0].endswith('1.00')
    assert '256 MiB' in rows[0]
    colocated = rows[2]
    assert colocated.startswith('3 stores from one stream')
    assert '6.50' in colocated and '11.1' in colocated
    assert colocated.endswith('1.62')  # 6.5 / 4.0
    assert rows[3].endswith('1.02')    # 4.1 / 4.0


def test_model_block_absent_without_model_and_targets_unchanged():
    assert report.MODEL_TITLE not in report.format_table(full_results())
    assert report.ratios(_with_model()) == report.ratios(full_results())


def test_model_row_without_one_store_has_no_ratio():
    results = {'sizes': [GIB], 'model': {
        'model-colocated-3': {LARGE: {'seconds': [6.0], 'cpu_s': [9.0]}}}}
    text = report.format_table(results)
    row = text.strip().splitlines()[-1]
    assert row.startswith('3 stores') and row.endswith('-')


def test_model_block_in_rst_parses():
    rst = report.format_rst(_with_model())
    assert ".. list-table:: What bounds co-location" in rst
    assert _parsed_tables(rst) == 4


# -- Ceph cases and the whole cloud ------------------------------------------

def ceph_results():
    """The file cases plus the Ceph cases and the cloud's footprint."""
    results = full_results()
    results['cases'].update({
        'colocated-rbd-2': {LARGE: _entry([9.0, 8.0, 10.0], [150.0])},
        'upstream-copy-image-rbd': {LARGE: _entry([20.0, 21.0, 19.0])},
        'cinder-rbd-multistore': {LARGE: _entry([12.0], None, [300.0])},
        'cinder-rbd-colocated-usable': {LARGE: _entry([2.0, 1.8, 2.2])},
        'cinder-rbd-colocated-both': {LARGE: _entry([18.0, 17.0, 19.0])},
        'cinder-rbd-colocated-chain-usable': {
            LARGE: _entry([1.0, 0.9, 1.1])},
        'cinder-rbd-colocated-chain-both': {
            LARGE: _entry([16.0, 15.0, 17.0])},
        'volume-clone-colocated': {LARGE: _entry([1.5, 1.4, 1.6])},
        'volume-copy-one-site': {LARGE: _entry([30.0, 31.0, 29.0])},
    })
    results['footprint'] = {
        'stack_up_s': 31.5,
        'up_peaks': {'stack_rss_mib': 2000.0, 'stack_pss_mib': 1500.0,
                     'shared_rss_mib': 400.0, 'total_rss_mib': 2400.0},
        'bench_peaks': {'stack_rss_mib': 3900.0, 'stack_pss_mib': 3000.0,
                        'shared_rss_mib': 450.0, 'total_rss_mib': 4350.0,
                        'reference_rss_mib': 600.0,
                        'cloud_rss_mib': 3750.0},
    }
    return results


def test_ceph_ratios_and_footprint_checks():
    checks = _by_name_size(report.ratios(ceph_results()))
    colocated = checks[(report.RATIOS[4].name, LARGE)]
    assert colocated['value'] == pytest.approx(9.0 / 20.0)
    assert colocated['target'] == 0.5 and colocated['met'] is True
    # Cinder's own image service did not run on RBD: no ratio.
    assert (report.RATIOS[5].name, LARGE) not in checks
    # The targets are the default's (the image a clone of the volume).
    usable = checks[(report.RATIOS[7].name, LARGE)]
    assert usable['value'] == pytest.approx(1.0 / 9.0)
    assert usable['target'] == 0.25 and usable['met'] is True
    both = checks[(report.RATIOS[8].name, LARGE)]
    assert both['value'] == pytest.approx(16.0 / 20.0)
    assert both['target'] == 1.0 and both['met'] is True
    clone = checks[(report.RATIOS[9].name, LARGE)]
    assert clone['value'] == pytest.approx(1.5 / 30.0)
    assert clone['target'] == 0.1 and clone['met'] is True
    flat_usable = checks[(report.RATIOS[10].name, LARGE)]
    assert flat_usable['value'] == pytest.approx(2.0 / 9.0)
    assert flat_usable['target'] == 0.25
    flat_both = checks[(report.RATIOS[11].name, LARGE)]
    assert flat_both['value'] == pytest.approx(18.0 / 20.0)
    assert flat_both['target'] == 1.0
    up = checks[('stack up with Ceph (seconds)', None)]
    assert (up['value'], up['target'], up['met']) == (31.5, 90.0, True)
    ram = checks[('peak RAM of the whole cloud (MiB, sum of RSS)', None)]
    # The benchmark's reference services do not count.
    assert (ram['value'], ram['target']) == (3750.0, 4096.0)
    assert ram['met'] is True
    assert 'the benchmark' in ram['detail']
    results = ceph_results()
    results['footprint']['up_peaks']['total_rss_mib'] = 4100.0
    [ram] = [c for c in report.ratios(results)
             if c['name'].startswith('peak RAM')]
    assert (ram['value'], ram['met']) == (4100.0, False)
    assert 'stack up' in ram['detail']


def test_ceph_cases_in_blocks_of_their_own():
    table = report.format_table(ceph_results())
    files = table.split('== 1 GiB ==')[1].split('\n\n')[0]
    ceph = table.split('== Ceph, two sites: 1 GiB ==')[1].split('\n\n')[0]
    for name, label in report.CASES:
        if name in report.RBD_CASES and name != 'cinder-rbd-upstream':
            assert label in ceph and label not in files
    assert 'cinder-rbd-upstream' not in table
    cloud = table.split('== the cloud ==')[1].split('\n\n')[0]
    assert 'stack up (with Ceph)' in cloud and '31.5' in cloud
    assert '3750' in cloud and '600' in cloud and '2400' in cloud
    assert table.index('== the cloud ==') < table.index('== targets ==')


def test_ceph_rst_parses_and_chart_draws(tmp_path):
    rst = report.format_rst(ceph_results(), chart_name='bench.png')
    assert '.. list-table:: Ceph, two sites: 1 GiB' in rst
    assert '.. list-table:: The whole cloud' in rst
    core.publish_doctree(rst, settings_overrides={'report_level': 2,
                                                  'halt_level': 2})
    path = report.draw_chart(ceph_results(), tmp_path / 'c.png')
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_cloud_peak_without_footprint():
    assert report.cloud_peak(full_results()) is None
    only_bench = {'footprint': {'bench_peaks': {'total_rss_mib': 10.0}}}
    assert report.cloud_peak(only_bench) == (10.0, 'the benchmark')


def test_ceph_rst_alone():
    rst = report.format_ceph_rst(ceph_results())
    assert rst.count('.. list-table::') == 3
    assert 'Ceph, two sites: 1 GiB' in rst and 'The whole cloud' in rst
    assert 'Upload of 1 GiB' not in rst
    assert report.RATIOS[4].name in rst and report.RATIOS[0].name not in rst
    assert 'stack up with Ceph (seconds)' in rst
    core.publish_doctree(rst, settings_overrides={'report_level': 2,
                                                  'halt_level': 2})
    assert report.format_ceph_rst(full_results()) == ''


def _zero_copy_results(medians):
    """Results with the RBD upload cases at ``{gib: (this, upstream)}``."""
    cases = {'cinder-rbd-multistore': {}, 'cinder-rbd-upstream': {}}
    for gib, (this, upstream) in medians.items():
        key = str(gib << 30)
        cases['cinder-rbd-multistore'][key] = _entry([this], None, None)
        cases['cinder-rbd-upstream'][key] = _entry([upstream], None, None)
    return {'sizes': [g << 30 for g in medians], 'cases': cases}


def test_zero_copy_targets_are_checked_at_their_own_size():
    checks = _by_name_size(report.ratios(_zero_copy_results(
        {1: (1.0, 8.0), 10: (1.5, 80.0)})))
    one = checks[(report.RATIOS[5].name, str(1 << 30))]
    assert (one['value'], one['target'], one['met']) == (0.125, 0.2, True)
    ten = checks[(report.RATIOS[6].name, str(10 << 30))]
    assert ten['value'] == pytest.approx(1.5 / 80.0) and ten['met']
    # Each target at its own size only.
    assert (report.RATIOS[5].name, str(10 << 30)) not in checks
    assert (report.RATIOS[6].name, str(1 << 30)) not in checks
    growth = checks[(report.ZERO_COPY_GROWTH, None)]
    assert (growth['value'], growth['target'], growth['met']) == (
        1.5, 2.0, True)


def test_zero_copy_growth_not_met_when_it_scales_with_the_size():
    checks = _by_name_size(report.ratios(_zero_copy_results(
        {1: (1.0, 8.0), 10: (9.0, 80.0)})))
    growth = checks[(report.ZERO_COPY_GROWTH, None)]
    assert growth['value'] == 9.0 and growth['met'] is False
    assert not checks[(report.RATIOS[6].name, str(10 << 30))]['met']


def test_zero_copy_growth_needs_two_sizes():
    checks = _by_name_size(report.ratios(_zero_copy_results(
        {1: (1.0, 8.0)})))
    assert (report.ZERO_COPY_GROWTH, None) not in checks
