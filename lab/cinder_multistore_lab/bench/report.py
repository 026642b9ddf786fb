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

"""The benchmark's report: statistics, target checks, tables and a chart.

Everything here works on the plain ``results`` dict a benchmark run
produces and does no other I/O than writing the file it is asked to write::

    {'sizes': [268435456, 1073741824],      # bytes, in the order run
     'runs': 3,
     'cases': {'glance-filter': {           # case -> str(size) -> lists
         '268435456': {'seconds': [1.5, 1.4, 1.6],
                       'glance_rss_mib': [142.0, 143.1, 142.5]}}},
     'model': {'model-single': {            # bench.bound, same shape
         '268435456': {'seconds': [0.9], 'cpu_s': [0.9]}}},
     'machine': {'cpus': 2},                # copied through
     'footprint': {'stack_up_s': 25.8,      # bench.footprint: peaks, MiB
                   'up_peaks': {'cloud_rss_mib': 2689.0},
                   'bench_peaks': {'cloud_rss_mib': 3929.0}},
     'skipped': {'cinder-rbd-upstream': 'why'}}

A case may be missing for some sizes or altogether, and the RSS lists may
be missing or empty; whatever cannot be computed is left out.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
import json
from pathlib import Path
import statistics
import textwrap
from typing import Any


#: The cases in display order, with their labels.
CASES = (
    ('glance-no-filter', 'single store, Glance without the filter'),
    ('glance-filter', 'single store, through the filter'),
    ('colocated-3', 'co-located in 3 stores (filter, one pass)'),
    ('upstream-copy-image', 'upstream: upload, then copy-image to 2 stores'),
    ('dd-fsync-3', 'raw limit: dd conv=fsync into 3 store dirs'),
    ('cinder-multistore', 'Cinder upload-to-image, this driver'),
    ('cinder-upstream', "Cinder upload-to-image, Cinder's image service"),
    ('colocated-rbd-2', 'co-located in both Ceph sites (filter, one pass)'),
    ('upstream-copy-image-rbd',
     'upstream: upload to central, then copy-image to edge'),
    ('cinder-rbd-multistore',
     'Cinder upload-to-image of an edge RBD volume, this driver'),
    ('cinder-rbd-upstream',
     "Cinder upload-to-image of an edge RBD volume, Cinder's image "
     'service'),
    ('cinder-rbd-colocated-usable',
     'Cinder upload-to-image of an edge volume co-located in both sites, '
     'with flatten_clones_of_base_images = true: usable at the edge (this '
     'driver)'),
    ('cinder-rbd-colocated-both',
     '... and held by both sites (Glance copy-image)'),
    ('cinder-rbd-colocated-chain-usable',
     '... by default (the image a clone of the volume): usable at the '
     'edge'),
    ('cinder-rbd-colocated-chain-both',
     '... and held by both sites (Glance copy-image)'),
    ('volume-clone-colocated',
     'volume at central from a co-located image (COW clone)'),
    ('volume-copy-one-site',
     'volume at central from an edge-only image (full copy)'),
)
#: The cases on the two Ceph sites: shown in blocks of their own.
RBD_CASES = ('colocated-rbd-2', 'upstream-copy-image-rbd',
             'cinder-rbd-multistore', 'cinder-rbd-upstream',
             'cinder-rbd-colocated-usable', 'cinder-rbd-colocated-both',
             'cinder-rbd-colocated-chain-usable',
             'cinder-rbd-colocated-chain-both',
             'volume-clone-colocated', 'volume-copy-one-site')
#: The cases of the hashing model (:mod:`cinder_multistore_lab.bench.bound`).
MODEL_CASES = (
    ('model-single', 'one store: MD5 + SHA-512, write'),
    ('model-colocated-3',
     '3 stores from one stream: + 2 copies, each MD5 + SHA-1, write'),
    ('model-colocated-3-no-md5',
     '3 stores, copies without MD5 (glance_store cannot)'),
)
#: The model case the others are divided by.
MODEL_BASE = 'model-single'
#: The cases whose Glance worker RSS counts for the RSS growth check.
GLANCE_CASES = ('glance-no-filter', 'glance-filter', 'colocated-3',
                'upstream-copy-image')
#: Every target check is "value <= target".
OP = '<='
#: Target of the Glance worker peak RSS growth, in MiB.
RSS_GROWTH_TARGET = 32.0

RatioSpec = collections.namedtuple(
    'RatioSpec', 'name short numerator denominator target sizes',
    defaults=(None,))
#: The median-time ratios checked at every size where both cases ran (or
#: at the ``sizes`` given, in bytes).
RATIOS = (
    RatioSpec('co-located 3 stores / single store (both through the '
              'filter)', 'co-located 3 / single store',
              'colocated-3', 'glance-filter', 1.5),
    RatioSpec('co-located 3 stores / upstream upload + copy-image',
              'co-located 3 / upstream copy-image',
              'colocated-3', 'upstream-copy-image', 0.4),
    RatioSpec('single store with the filter / without it',
              'filter / no filter', 'glance-filter', 'glance-no-filter',
              1.03),
    RatioSpec('Cinder upload-to-image: this driver / upstream image '
              'service', 'Cinder: this driver / upstream',
              'cinder-multistore', 'cinder-upstream', 1.0),
    RatioSpec('Ceph: co-located in 2 rbd stores / upstream upload + '
              'copy-image', 'Ceph: co-located 2 / copy-image',
              'colocated-rbd-2', 'upstream-copy-image-rbd', 0.5),
    RatioSpec('Ceph: Cinder upload-to-image of a raw 1 GiB RBD volume into '
              'its own cluster, this driver (zero copy) / upstream image '
              'service', 'Ceph: zero copy / upstream, 1 GiB',
              'cinder-rbd-multistore', 'cinder-rbd-upstream', 0.2,
              (1 << 30,)),
    RatioSpec('Ceph: Cinder upload-to-image of a raw 10 GiB RBD volume (2 '
              'GiB written) into its own cluster, this driver (zero copy) / '
              'upstream image service', 'Ceph: zero copy / upstream, 10 GiB',
              'cinder-rbd-multistore', 'cinder-rbd-upstream', 0.05,
              (10 << 30,)),
    RatioSpec('Ceph: co-located upload-to-image, usable at the volume\'s '
              'site / one-pass streamed co-location of the same size',
              'Ceph: co-located, usable / one pass', 'cinder-rbd-colocated-'
              'chain-usable', 'colocated-rbd-2', 0.25),
    RatioSpec('Ceph: co-located upload-to-image, held by both sites / '
              'upstream upload + copy-image', 'Ceph: co-located, both / '
              'copy-image', 'cinder-rbd-colocated-chain-both',
              'upstream-copy-image-rbd', 1.0),
    RatioSpec('Ceph: volume from image at the other site, clone / full '
              'copy (target: clone 10x faster)', 'Ceph: clone / full copy',
              'volume-clone-colocated', 'volume-copy-one-site', 0.1),
    RatioSpec('Ceph: co-located upload-to-image with '
              'flatten_clones_of_base_images = true, usable at the '
              'volume\'s site / one-pass streamed co-location of the same '
              'size', 'Ceph: co-located flattened, usable / one pass',
              'cinder-rbd-colocated-usable', 'colocated-rbd-2', 0.25),
    RatioSpec('Ceph: co-located upload-to-image with '
              'flatten_clones_of_base_images = true, held by both sites / '
              'upstream upload + copy-image', 'Ceph: co-located flattened, '
              'both / copy-image', 'cinder-rbd-colocated-both',
              'upstream-copy-image-rbd', 1.0),
)
#: The zero-copy upload's time may grow less than this from its smallest
#: to its largest volume.
ZERO_COPY_GROWTH_TARGET = 2.0
ZERO_COPY_GROWTH = ('Ceph: zero-copy upload-to-image time, largest / '
                    'smallest RBD volume')
#: Target of ``stack up`` with Ceph, in seconds.
STACK_UP_TARGET = 90.0
#: Target of the whole cloud's peak RAM (sum of RSS), in MiB.
CLOUD_RAM_TARGET = 4096.0

#: Column headers of a size block.
CASE_HEADER = ['case', 'median s', 'min-max s', 'MB/s',
               'Glance peak RSS MiB', 'Cinder peak RSS MiB',
               'Glance CPU s', 'machine busy %']
#: Column headers of the target checks block.
RATIO_HEADER = ['check', 'size', 'value', 'target', 'result']
#: Column headers of the hashing model block.
MODEL_HEADER = ['model case', 'size', 'median s', 'min-max s', 'CPU s',
                '/ one store']
#: Titles of the hashing model block.
MODEL_TITLE = ("what bounds co-location: glance_store's per-store hashing "
               "and writes, without Glance")

_UNITS = (('TiB', 1 << 40), ('GiB', 1 << 30), ('MiB', 1 << 20),
          ('KiB', 1 << 10))
_NONE = '-'
#: Bars stay this thin even when a panel has fewer rows.
_MIN_ROWS = 4
_MET_COLOR = '#2ca02c'
_NOT_MET_COLOR = '#d62728'

Results = dict[str, Any]
Summary = dict[str, dict[str, dict[str, Any]]]


# -- statistics --------------------------------------------------------------

def _peak(values: Iterable[float | None] | None) -> float | None:
    """The largest of ``values`` (``None`` entries ignored), or None."""
    present = [v for v in values or () if v is not None]
    return max(present) if present else None


def _stats(size_key: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The statistics of one case at one size, None without timings."""
    seconds = entry.get('seconds') or []
    if not seconds:
        return None
    median = statistics.median(seconds)
    return {
        'median': median,
        'min': min(seconds),
        'max': max(seconds),
        'mb_per_s': int(size_key) / 1e6 / median if median > 0 else None,
        'runs': len(seconds),
        'glance_rss_mib': _peak(entry.get('glance_rss_mib')),
        'cinder_rss_mib': _peak(entry.get('cinder_rss_mib')),
        'glance_cpu_s': _median(entry.get('glance_cpu_s')),
        'busy_pct': _median(entry.get('busy_pct')),
        'cpu_s': _median(entry.get('cpu_s')),
    }


def _median(values: Iterable[float | None] | None) -> float | None:
    """The median of ``values`` (``None`` entries ignored), or None."""
    present = [v for v in values or () if v is not None]
    return statistics.median(present) if present else None


def summarize(results: Results) -> Summary:
    """Median, range, throughput and peak RSS of every case at every size.

    :param results: the benchmark results.
    :returns: ``{case: {size_key: stats}}`` where ``stats`` holds
        ``median``, ``min`` and ``max`` (seconds), ``mb_per_s`` (10^6 bytes
        per second at the median), ``runs`` and the largest
        ``glance_rss_mib`` and ``cinder_rss_mib`` (None when not measured).
        A size without timings is left out.
    """
    summary: Summary = {}
    for case, by_size in (results.get('cases') or {}).items():
        for size_key, entry in (by_size or {}).items():
            stats = _stats(size_key, entry or {})
            if stats is not None:
                summary.setdefault(case, {})[size_key] = stats
    return summary


def size_keys(results: Results) -> list[str]:
    """Every size of ``results`` as a key, in the order run.

    :param results: the benchmark results.
    :returns: the keys of ``results['sizes']``, then any other size some
        case holds, smallest first.
    """
    keys = [str(size) for size in results.get('sizes') or ()]
    extra = {key for by_size in (results.get('cases') or {}).values()
             for key in (by_size or {}) if key not in keys}
    return keys + sorted(extra, key=int)


def case_order(summary: Summary) -> list[tuple[str, str]]:
    """The cases of ``summary`` as ``(name, label)``, in display order.

    :param summary: as returned by :func:`summarize`.
    :returns: the known cases in :data:`CASES` order, then any other case
        by name (labelled with its name).
    """
    known = [(name, label) for name, label in CASES if name in summary]
    names = {name for name, _label in CASES}
    return known + [(name, name) for name in sorted(summary)
                    if name not in names]


# -- target checks -----------------------------------------------------------

def _check(name: str, size_key: str | None, value: float, target: float,
           detail: str) -> dict[str, Any]:
    return {'name': name, 'size': size_key, 'value': value,
            'target': target, 'op': OP, 'met': value <= target,
            'detail': detail}


def _median_ratios(summary: Summary, sizes: list[str]) -> list[dict]:
    checks = []
    for spec in RATIOS:
        num = summary.get(spec.numerator, {})
        den = summary.get(spec.denominator, {})
        for key in sizes:
            if key not in num or key not in den or den[key]['median'] <= 0:
                continue
            if spec.sizes is not None and int(key) not in spec.sizes:
                continue
            a, b = num[key]['median'], den[key]['median']
            detail = '%s %.3f s / %s %.3f s at %s' % (
                spec.numerator, a, spec.denominator, b,
                human_size(int(key)))
            checks.append(_check(spec.name, key, a / b, spec.target,
                                 detail))
    return checks


def _glance_peak(summary: Summary, size_key: str) -> float | None:
    """The largest Glance worker RSS over the Glance cases at one size."""
    return _peak(summary.get(case, {}).get(size_key, {}).get('glance_rss_mib')
                 for case in GLANCE_CASES)


def _rss_growth(summary: Summary, sizes: list[str]) -> list[dict]:
    peaks = {key: _glance_peak(summary, key) for key in sizes}
    measured = sorted((key for key, peak in peaks.items()
                       if peak is not None), key=int)
    if len(measured) < 2:
        return []
    small, large = measured[0], measured[-1]
    name = 'Glance worker peak RSS growth, %s minus %s (MiB)' % (
        human_size(int(large)), human_size(int(small)))
    detail = ('largest peak over %s: %.1f MiB at %s (largest size) minus '
              '%.1f MiB at %s (smallest size)' % (
                  ', '.join(GLANCE_CASES), peaks[large],
                  human_size(int(large)), peaks[small],
                  human_size(int(small))))
    return [_check(name, None, peaks[large] - peaks[small],
                   RSS_GROWTH_TARGET, detail)]


def _zero_copy_growth(summary: Summary) -> list[dict]:
    medians = summary.get('cinder-rbd-multistore', {})
    if len(medians) < 2:
        return []
    small, large = min(medians, key=int), max(medians, key=int)
    a, b = medians[large]['median'], medians[small]['median']
    if b <= 0:
        return []
    detail = 'cinder-rbd-multistore %.3f s at %s / %.3f s at %s' % (
        a, human_size(int(large)), b, human_size(int(small)))
    return [_check(ZERO_COPY_GROWTH, None, a / b, ZERO_COPY_GROWTH_TARGET,
                   detail)]


def ratios(results: Results) -> list[dict[str, Any]]:
    """The target checks, from the medians.

    Each ratio of :data:`RATIOS` is checked at every size where both of
    its cases ran; the Glance worker peak RSS growth is checked once,
    between the largest and the smallest size with Glance RSS data. A
    check whose inputs are missing is left out.

    :param results: the benchmark results.
    :returns: one dict per check: ``name``, ``size`` (a size key, None for
        the RSS growth), ``value``, ``target``, ``op`` (``'<='``), ``met``
        and a human-readable ``detail``.
    """
    summary = summarize(results)
    sizes = size_keys(results)
    return (_median_ratios(summary, sizes) + _zero_copy_growth(summary)
            + _rss_growth(summary, sizes) + _footprint_checks(results))


def cloud_peak(results: Results) -> tuple[float, str] | None:
    """The whole cloud's largest sum of RSS (MiB) and when it was seen.

    The cloud: every process the stack started (Ceph daemons included)
    but the benchmark's reference services, plus the shared SQL server
    and RabbitMQ; over ``stack up`` and the whole run, whichever is
    larger.
    """
    found = results.get('footprint') or {}
    spans = []
    for key in ('up_peaks', 'bench_peaks'):
        peaks = found.get(key) or {}
        spans.append(peaks.get('cloud_rss_mib', peaks.get('total_rss_mib')))
    measured = [(value, name) for value, name
                in zip(spans, ('stack up', 'the benchmark'))
                if value is not None]
    return max(measured) if measured else None


def _footprint_checks(results: Results) -> list[dict]:
    found = results.get('footprint') or {}
    checks = []
    if found.get('stack_up_s') is not None:
        checks.append(_check(
            'stack up with Ceph (seconds)', None, found['stack_up_s'],
            STACK_UP_TARGET, '"cinder-multistore stack up": Keystone, '
            'Glance, Cinder and two Ceph clusters, until all answer'))
    peak = cloud_peak(results)
    if peak is not None:
        value, when = peak
        checks.append(_check(
            'peak RAM of the whole cloud (MiB, sum of RSS)', None, value,
            CLOUD_RAM_TARGET, 'largest sum of RSS of every stack process '
            "(Ceph daemons included, the benchmark's reference services "
            'not) plus the shared SQL server and RabbitMQ, sampled every '
            'second; seen during %s' % when))
    return checks


# -- text --------------------------------------------------------------------

def human_size(n: int) -> str:
    """A byte count in binary units.

    :param n: a number of bytes.
    :returns: e.g. ``'256 MiB'``, ``'1 GiB'``, ``'1.5 GiB'``, ``'512 B'``.
    """
    for unit, scale in _UNITS:
        if n >= scale:
            return '%s %s' % (_number(n / scale), unit)
    return '%d B' % n


def _number(value: float) -> str:
    """``value`` with up to two decimals and no trailing zeros."""
    return ('%.2f' % value).rstrip('0').rstrip('.')


def _fmt(value: float | None, digits: int) -> str:
    return _NONE if value is None else '%.*f' % (digits, value)


def _size_label(size_key: str | None) -> str:
    return _NONE if size_key is None else human_size(int(size_key))


def _case_rows(summary: Summary, size_key: str) -> list[list[str]]:
    """One row per case that ran at ``size_key``, in display order."""
    rows = []
    for case, label in case_order(summary):
        stats = summary[case].get(size_key)
        if stats is None:
            continue
        rows.append([label, _fmt(stats['median'], 2),
                     '%.2f-%.2f' % (stats['min'], stats['max']),
                     _fmt(stats['mb_per_s'], 1),
                     _fmt(stats['glance_rss_mib'], 1),
                     _fmt(stats['cinder_rss_mib'], 1),
                     _fmt(stats.get('glance_cpu_s'), 1),
                     _fmt(stats.get('busy_pct'), 0)])
    return rows


def _ratio_rows(checks: list[dict[str, Any]]) -> list[list[str]]:
    return [[c['name'], _size_label(c['size']), '%.3f' % c['value'],
             '%s %s' % (c['op'], float(c['target'])),
             'met' if c['met'] else 'NOT met'] for c in checks]


def _model_rows(results: Results) -> list[list[str]]:
    """One row per model case and size, with its ratio to one store."""
    summary = summarize({'cases': results.get('model') or {}})
    labels = dict(MODEL_CASES)
    rows = []
    for key in size_keys({'sizes': results.get('sizes'),
                          'cases': results.get('model') or {}}):
        base = summary.get(MODEL_BASE, {}).get(key)
        for case in [name for name, _label in MODEL_CASES] + sorted(
                set(summary) - set(labels)):
            stats = summary.get(case, {}).get(key)
            if stats is None:
                continue
            ratio = (stats['median'] / base['median']
                     if base and base['median'] > 0 else None)
            rows.append([labels.get(case, case), _size_label(key),
                         _fmt(stats['median'], 2),
                         '%.2f-%.2f' % (stats['min'], stats['max']),
                         _fmt(stats['cpu_s'], 1), _fmt(ratio, 2)])
    return rows


#: Column headers of the whole cloud's block.
FOOTPRINT_HEADER = ['span', 'seconds', 'stack RSS MiB', 'stack PSS MiB',
                    'SQL + RabbitMQ RSS MiB', 'reference services RSS MiB',
                    'cloud RSS MiB']


def _footprint_rows(results: Results) -> list[list[str]]:
    """``stack up`` and the benchmark: time and peak memory."""
    found = results.get('footprint') or {}
    rows = []
    for label, seconds, peaks in (
            ('stack up (with Ceph)', found.get('stack_up_s'),
             found.get('up_peaks')),
            ('the benchmark (reference services added)', None,
             found.get('bench_peaks'))):
        if peaks is None and seconds is None:
            continue
        peaks = peaks or {}
        rows.append([label, _fmt(seconds, 1),
                     _fmt(peaks.get('stack_rss_mib'), 0),
                     _fmt(peaks.get('stack_pss_mib'), 0),
                     _fmt(peaks.get('shared_rss_mib'), 0),
                     _fmt(peaks.get('reference_rss_mib'), 0),
                     _fmt(peaks.get('cloud_rss_mib',
                                    peaks.get('total_rss_mib')), 0)])
    return rows


#: ``(terminal title, reST title, header, rows)``.
Block = tuple[str, str, list[str], list[list[str]]]


def _blocks(results: Results) -> list[Block]:
    """The report as blocks, none empty.

    One block per size, then the target checks, then the hashing model.
    """
    summary = summarize(results)
    files = {case: by_size for case, by_size in summary.items()
             if case not in RBD_CASES}
    ceph = {case: by_size for case, by_size in summary.items()
            if case in RBD_CASES}
    blocks: list[Block] = []
    for key in size_keys(results):
        rows = _case_rows(files, key)
        if rows:
            blocks.append((human_size(int(key)),
                           'Upload of %s' % human_size(int(key)),
                           CASE_HEADER, rows))
    for key in size_keys(results):
        rows = _case_rows(ceph, key)
        if rows:
            blocks.append(('Ceph, two sites: %s' % human_size(int(key)),
                           'Ceph, two sites: %s' % human_size(int(key)),
                           CASE_HEADER, rows))
    rows = _footprint_rows(results)
    if rows:
        blocks.append(('the cloud', 'The whole cloud', FOOTPRINT_HEADER,
                       rows))
    checks = ratios(results)
    if checks:
        blocks.append(('targets', 'Targets (medians; value %s target)' % OP,
                       RATIO_HEADER, _ratio_rows(checks)))
    rows = _model_rows(results)
    if rows:
        blocks.append((MODEL_TITLE, MODEL_TITLE[0].upper() + MODEL_TITLE[1:],
                       MODEL_HEADER, rows))
    return blocks


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """``rows`` under ``header``, first column left-aligned, others right."""
    table = [header] + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width)
                  for cell, width in zip(row[1:], widths[1:])]
        return '  '.join(cells).rstrip()

    rule = '  '.join('-' * width for width in widths)
    return [line(header), rule] + [line(row) for row in rows]


def format_table(results: Results) -> str:
    """The report as plain text for a terminal.

    :param results: the benchmark results.
    :returns: one ``== <size> ==`` block per size with a row per case, a
        ``== targets ==`` block with the checks of :func:`ratios`, then the
        hashing model's block when it ran.
    """
    parts = []
    for title, _rst_title, header, rows in _blocks(results):
        parts.append('\n'.join(['== %s ==' % title]
                               + _aligned(header, rows)))
    return '\n\n'.join(parts or ['no results']) + '\n'


def _rst_cell(cell: str) -> str:
    if cell == _NONE:
        # NOTE: a lone "-" would start a nested bullet list.
        return 'n/a'
    return '**NOT met**' if cell == 'NOT met' else cell


def _list_table(title: str, header: list[str],
                rows: list[list[str]]) -> list[str]:
    lines = ['.. list-table:: %s' % title, '   :header-rows: 1', '']
    for row in [header] + rows:
        cells = [_rst_cell(cell) for cell in row]
        lines.append('   * - %s' % cells[0])
        lines.extend('     - %s' % cell for cell in cells[1:])
    return lines


def format_rst(results: Results, chart_name: str | None = None) -> str:
    """The report as reStructuredText ``list-table`` directives.

    :param results: the benchmark results.
    :param chart_name: the chart's file name or URI, shown first when given.
    :returns: reST for a documentation page.
    """
    parts = []
    if chart_name:
        parts.append('.. image:: %s\n   :alt: cinder-multistore benchmark'
                     % chart_name)
    for _title, title, header, rows in _blocks(results):
        parts.append('\n'.join(_list_table(title, header, rows)))
    return '\n\n'.join(parts) + '\n'


#: The target checks that belong to the Ceph part of the report.
CEPH_CHECKS = tuple(spec.name for spec in RATIOS
                    if spec.numerator in RBD_CASES) + (
    ZERO_COPY_GROWTH,
    'stack up with Ceph (seconds)',
    'peak RAM of the whole cloud (MiB, sum of RSS)')


def format_ceph_rst(results: Results) -> str:
    """The Ceph cases, the whole cloud and their targets, as reST.

    :param results: the benchmark results.
    :returns: reST ``list-table`` directives; empty when no Ceph case ran
        and nothing was measured of the cloud.
    """
    parts = []
    for _title, title, header, rows in _blocks(results):
        if title.startswith('Ceph, two sites') or title == 'The whole cloud':
            parts.append('\n'.join(_list_table(title, header, rows)))
    checks = [c for c in ratios(results) if c['name'] in CEPH_CHECKS]
    if checks:
        parts.append('\n'.join(_list_table(
            'Ceph and the whole cloud: targets (medians; value %s target)'
            % OP, RATIO_HEADER, _ratio_rows(checks))))
    return '\n\n'.join(parts) + '\n' if parts else ''


def write_json(results: Results, path: str | Path) -> Path:
    """Write the results with their summary and checks as JSON.

    :param results: the benchmark results.
    :param path: the file to write.
    :returns: ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    document = {'results': results, 'summary': summarize(results),
                'ratios': ratios(results)}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + '\n')
    return path


# -- chart -------------------------------------------------------------------

def _draw_size(ax, summary: Summary, cases: list[tuple[str, str]],
               size_key: str) -> None:
    """Median seconds per case at one size, with min-max error bars."""
    ran = [(y, summary[case][size_key]) for y, (case, _label)
           in enumerate(cases) if size_key in summary[case]]
    ys = [y for y, _stats in ran]
    medians = [stats['median'] for _y, stats in ran]
    lows = [stats['median'] - stats['min'] for _y, stats in ran]
    highs = [stats['max'] - stats['median'] for _y, stats in ran]
    ax.barh(ys, medians, xerr=[lows, highs], color='#4c72b0', capsize=3)
    right = max([stats['max'] for _y, stats in ran], default=1.0)
    for y, stats in ran:
        ax.text(stats['max'] + right * 0.02, y, '%.1f s' % stats['median'],
                va='center', fontsize=9)
    for y in sorted(set(range(len(cases))) - set(ys)):
        ax.text(right * 0.02, y, 'not run', va='center', fontsize=9,
                color='gray', style='italic')
    ax.set_xlim(0, right * 1.25)
    ax.set_title('%s upload' % human_size(int(size_key)))
    ax.set_xlabel('median seconds (bars: min-max)')
    ax.grid(axis='x', alpha=0.3)


def _draw_checks(ax, checks: list[dict[str, Any]]) -> None:
    """Each median ratio against its target; the RSS growth as a note."""
    shorts = {spec.name: spec.short for spec in RATIOS}
    shorts[ZERO_COPY_GROWTH] = 'Ceph: zero-copy time, largest / smallest'
    bars = [c for c in checks if c['name'] in shorts]
    labels = ['%s\n(%s)' % (shorts[c['name']], _size_label(c['size']))
              for c in bars]
    ys = list(range(len(bars)))
    colors = [_MET_COLOR if c['met'] else _NOT_MET_COLOR for c in bars]
    ax.barh(ys, [c['value'] for c in bars], color=colors)
    ax.plot([c['target'] for c in bars], ys, linestyle='none', marker='|',
            markersize=22, markeredgewidth=2.5, color='black')
    right = max([c['value'] for c in bars] + [c['target'] for c in bars],
                default=1.0)
    for y, check in zip(ys, bars):
        ax.text(max(check['value'], check['target']) + right * 0.03, y,
                '%.3f' % check['value'], va='center', fontsize=9)
    ax.set_xlim(0, right * 1.3)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_ylim(max(len(bars), _MIN_ROWS) - 0.5, -0.5)
    if not bars:
        ax.text(0.5, 0.5, 'no ratio could be computed', ha='center',
                va='center', transform=ax.transAxes, color='gray',
                style='italic')
    ax.set_title('median ratios vs target')
    ax.grid(axis='x', alpha=0.3)
    notes = ['ratio of medians; black mark: the target (value %s target); '
             'green: met, red: not met' % OP]
    notes += ['%s: %.1f (%s %s, %s)' % (
        c['name'], c['value'], c['op'], float(c['target']),
        'met' if c['met'] else 'NOT met')
        for c in checks if c['name'] not in shorts]
    ax.set_xlabel('\n'.join(textwrap.fill(note, 60) for note in notes))


def draw_chart(results: Results, path: str | Path) -> Path:
    """Draw the results as a PNG.

    One panel per size with the median seconds of every case (min-max as
    error bars), then one panel with every median ratio against its
    target; the RSS growth check is written under that panel.

    :param results: the benchmark results.
    :param path: the PNG file to write.
    :returns: ``path`` as a :class:`~pathlib.Path`.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    path = Path(path)
    summary = summarize(results)
    cases = case_order(summary)
    sizes = [key for key in size_keys(results)
             if any(key in summary[case] for case, _label in cases)]
    fig = pyplot.figure(figsize=(max(16, 4.5 * len(sizes) + 9), 6),
                        layout='constrained')
    grid = fig.add_gridspec(1, len(sizes) + 1,
                            width_ratios=[1] * len(sizes) + [1.3])
    first = None
    for column, key in enumerate(sizes):
        ax = fig.add_subplot(grid[0, column], sharey=first)
        if first is None:
            first = ax
            ax.set_yticks(range(len(cases)),
                          [textwrap.fill(label, 26) for _c, label in cases],
                          fontsize=9)
            ax.set_ylim(max(len(cases), _MIN_ROWS) - 0.5, -0.5)
        else:
            ax.tick_params(labelleft=False)
        _draw_size(ax, summary, cases, key)
    _draw_checks(fig.add_subplot(grid[0, len(sizes)]), ratios(results))
    fig.suptitle('cinder-multistore benchmark', fontsize=14)
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return path
