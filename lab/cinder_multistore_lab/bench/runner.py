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

"""``cinder-multistore bench``: the upload paths side by side, in one run.

On the embedded cloud (started for the run, or a running one given with
``--dir``), with the benchmark's reference services added (Glance without
the filter, cinder-volume with Cinder's own image service), every size is
measured in rounds: each round runs every case once, so the cases
alternate A B C A B C and share the machine's noise. When the cloud runs
the two Ceph sites, the same is done on them (:mod:`.rbd_cases`); cases
that cannot run are skipped with the reason. Prints medians, min-max,
MB/s, peak RSS, the whole cloud's start-up time and peak memory
(:mod:`.footprint`) and the target ratios, and writes ``bench.json``,
``bench.png``, ``bench.rst`` and ``bench-ceph.rst`` into ``--out``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import contextlib
import dataclasses
import importlib.metadata
import os
from pathlib import Path
import platform
import shutil
import sys
import tempfile
import time

from cinderclient import exceptions as cinder_exceptions

from cinder_multistore.glance import opts
from cinder_multistore_lab.bench import bound
from cinder_multistore_lab.bench import cinder_cases
from cinder_multistore_lab.bench import data
from cinder_multistore_lab.bench import footprint
from cinder_multistore_lab.bench import glance_cases
from cinder_multistore_lab.bench import rbd_cases
from cinder_multistore_lab.bench import report
from cinder_multistore_lab.bench import usage
from cinder_multistore_lab.stack import cinder as stack_cinder
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab import workflow


MiB = 1 << 20
GiB = 1 << 30
#: The three stores of the co-location cases; the first is the default.
STORES = ('alpha', 'beta', 'gamma')

#: case name -> (GlanceCases method, Glance service whose RSS is taken).
GLANCE_CASES = {
    'glance-no-filter': ('single_without_filter', 'glance-plain'),
    'glance-filter': ('single_with_filter', 'glance'),
    'colocated-3': ('colocated', 'glance'),
    'upstream-copy-image': ('upstream_copy_image', 'glance-plain'),
    'dd-fsync-3': ('dd_fsync', None),
}
#: The Glance cases on the two Ceph sites' rbd stores (central first):
#: case name -> (GlanceCases method, Glance service whose RSS is taken).
RBD_GLANCE_CASES = {
    'colocated-rbd-2': ('colocated', 'glance'),
    'upstream-copy-image-rbd': ('upstream_copy_image', 'glance-plain'),
}
#: case name -> Cinder image driver.
CINDER_CASES = {'cinder-multistore': 'multistore',
                'cinder-upstream': 'upstream'}
#: case name -> Cinder image driver, RBD volumes at the edge site.
CINDER_RBD_CASES = {'cinder-rbd-multistore': 'multistore',
                    'cinder-rbd-upstream': 'upstream'}
#: Bytes written into each RBD volume of the upload cases, at most.
RBD_WRITTEN = 2 * (1 << 30)
#: Volume from image at the central site: clone vs full copy.
CLONE_CASES = tuple(rbd_cases.VolumeFromImage.CASES)
#: Upload-to-image of an edge volume co-located in both sites.
COLOCATED_CASES = (rbd_cases.ColocatedUploads.CASES
                   + rbd_cases.ColocatedUploads.CHAIN_CASES)
#: Every case, in the order a round starts.
ALL_CASES = (tuple(GLANCE_CASES) + tuple(RBD_GLANCE_CASES) + bound.CASES
             + tuple(CINDER_CASES) + tuple(CINDER_RBD_CASES) + CLONE_CASES
             + COLOCATED_CASES)


@dataclasses.dataclass
class Options:
    """What to measure.

    :param sizes: image sizes in bytes, in the order measured.
    :param runs: rounds per size (each case once per round).
    :param volume_gib: size of the Cinder volumes (0: no Cinder cases).
    :param out: where the JSON, PNG and reST files go.
    :param cases: the cases to run (None: all of :data:`ALL_CASES`).
    :param clone_image_size: bytes of the images the volume-from-image
        cases clone or copy (None: ``volume_gib`` GiB).
    :param rbd_volume_gibs: sizes of the RBD volumes uploaded to images
        (None: ``volume_gib``); each gets at most ``rbd_written`` bytes
        of data, the rest stays unwritten (as a volume mostly is).
    :param rbd_written: bytes written into each RBD volume, at most.
    """

    sizes: list[int]
    runs: int = 5
    volume_gib: int = 1
    out: Path = Path('bench-results')
    cases: frozenset[str] | None = None
    clone_image_size: int | None = None
    rbd_volume_gibs: list[int] | None = None
    rbd_written: int = RBD_WRITTEN

    def __post_init__(self) -> None:
        unknown = set(self.cases or ()) - set(ALL_CASES)
        if unknown:
            raise ValueError('unknown case(s) %s; the cases are: %s'
                             % (', '.join(sorted(unknown)),
                                ', '.join(ALL_CASES)))

    def selected(self, cases: Iterable[str]) -> list[str]:
        """The cases of ``cases`` this run measures, in their order."""
        return [c for c in cases if self.cases is None or c in self.cases]


def parse_size(text: str) -> int:
    """``256M``, ``1G``, ``4g``, ``8MiB`` or bytes -> bytes."""
    text = text.strip().upper().removesuffix('IB').removesuffix('B')
    units = {'K': 1 << 10, 'M': MiB, 'G': GiB}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class Bench:
    """The cases of one run, with their peak-RSS monitors.

    :param env: the stack's variables, with the reference services'.
    :param directory: the stack directory (pid files, data files).
    :param say: prints a progress line.
    :param warm_up: run the unrecorded warm-up uploads.
    """

    def __init__(self, env: StackEnv, directory: Path,
                 say: Callable[[str], None] = print,
                 warm_up: bool = True,
                 rbd_written: int = RBD_WRITTEN) -> None:
        self.env = env
        self.warm_up = warm_up
        #: Bytes written into each RBD volume, at most.
        self.rbd_written = rbd_written
        self.directory = Path(directory)
        self.say = say
        self.data_dir = self.directory / 'bench-data'
        self.glance = glance_cases.GlanceCases(
            workflow.session_for(env, 'OS'), env.glance.endpoint,
            env.glance_plain.endpoint,
            {s: env.glance.store_dir(s) for s in STORES}, STORES)
        #: The same cases on the rbd stores (None without Ceph).
        self.rbd_glance: glance_cases.GlanceCases | None = None
        if rbd_cases.missing(env) is None:
            self.rbd_glance = glance_cases.GlanceCases(
                self.glance.session, env.glance.endpoint,
                env.glance_plain.endpoint, {},
                tuple(env.glance.rbd_store(site)
                      for site in (rbd_cases.CLONE_SITE,
                                   rbd_cases.UPLOAD_SITE)),
                name='rbd', primary_by_header=True)
        self.results: dict = {'sizes': [], 'cases': {}, 'model': {},
                              'machine': machine(env)}

    def _monitor(self, service: str | None) -> usage.PeakRSS | None:
        if service is None:
            return None
        return usage.PeakRSS(usage.service_pid(self.directory, service))

    def _record(self, case: str, size: int, seconds: float,
                kind: str = 'cases', **peaks: float | None) -> None:
        entry = self.results[kind].setdefault(case, {}).setdefault(
            str(size), {'seconds': []})
        entry['seconds'].append(seconds)
        for name, value in peaks.items():
            entry.setdefault(name, []).append(value)
        self.say('  %-24s %-8s %6.2f s %7.1f MB/s%s'
                 % (case, report.human_size(size), seconds,
                    size / 1e6 / seconds, _usage_text(peaks)))

    def _timed(self, fn: Callable[[], float],
               monitors: dict[str, usage.PeakRSS | None]) -> tuple:
        """Run a case; its seconds, and peak RSS and CPU of each monitor.

        ``glance_rss_mib`` also yields ``glance_cpu_s``; ``busy_pct`` is
        the share of the machine's CPUs that was busy.
        """
        # NOTE: every case starts with no dirty page cache left by the one
        # before it; otherwise the kernel's writeback of the previous
        # case's data slows down whichever case comes next.
        os.sync()
        busy = usage.MachineBusy()
        for monitor in monitors.values():
            if monitor is not None:
                monitor.start()
        busy.start()
        seconds = fn()
        peaks = {'busy_pct': busy.stop()}
        for name, monitor in monitors.items():
            peaks[name] = monitor.stop() if monitor is not None else None
            if name == 'glance_rss_mib':
                peaks['glance_cpu_s'] = (monitor.cpu_seconds
                                         if monitor is not None else None)
        return seconds, peaks

    def glance_sizes(self, sizes: list[int], runs: int,
                     cases: list[str]) -> None:
        """Glance and model ``cases`` at every size, ``runs`` rounds."""
        tiny = data.make(self.data_dir, MiB)
        self.glance.prepare(tiny)
        rbd = [c for c in cases if c in RBD_GLANCE_CASES]
        if rbd:
            self.rbd_glance.prepare(tiny)
        try:
            for size in sizes:
                self.results['sizes'].append(size)
                path = data.make(self.data_dir, size)
                self._warm_up('%s through each Glance'
                              % report.human_size(size),
                              [lambda: self.glance.single_with_filter(
                                  path, size),
                               lambda: self.glance.single_without_filter(
                                  path, size)])
                for run in range(1, runs + 1):
                    self.say('%s, round %d of %d'
                             % (report.human_size(size), run, runs))
                    for case in rotated(cases, run - 1):
                        if case in bound.CASES:
                            self._model(case, path, size)
                            continue
                        if case in RBD_GLANCE_CASES:
                            method, service = RBD_GLANCE_CASES[case]
                            fn = getattr(self.rbd_glance, method)
                        else:
                            method, service = GLANCE_CASES[case]
                            fn = getattr(self.glance, method)
                        seconds, peaks = self._timed(
                            lambda: fn(path, size),
                            {'glance_rss_mib': self._monitor(service)})
                        self._record(case, size, seconds, **peaks)
        finally:
            self.glance.delete(self.glance.base_image)
            if rbd and self.rbd_glance.base_image:
                self.rbd_glance.delete(self.rbd_glance.base_image)
                self.rbd_glance.base_image = None

    def _warm_up(self, what: str, uploads: list[Callable[[], float]]
                 ) -> None:
        """Run ``uploads`` twice each, unrecorded.

        The first uploads of a new size through a service are slower than
        the rest, with more CPU (seen: 5.3 s against 3.6 s for 1 GiB);
        twice, because each Glance has two workers. Not in a run of one
        round (a smoke run).
        """
        if not self.warm_up:
            return
        self.say('warm-up (not recorded): %s' % what)
        for upload in uploads * 2:
            upload()

    def _model(self, case: str, path: Path, size: int) -> None:
        """One case of :mod:`bound`, with the filter's buffer and hash."""
        cpu: list[float] = []

        def replay() -> float:
            seconds, cpu_seconds = bound.run(
                case, path, self.data_dir / 'model',
                depth=_default('buffer_chunks'),
                copy_algorithm=_default('copy_hash_algorithm'),
                nice=_default('copy_writer_nice'))
            cpu.append(cpu_seconds)
            return seconds
        seconds, peaks = self._timed(replay, {})
        self._record(case, size, seconds, kind='model', cpu_s=cpu[0],
                     **peaks)

    def cinder_volumes(self, gib: int, runs: int,
                       selected: list[str]) -> None:
        """Upload-to-image with the ``selected`` drivers' cases."""
        cloud = workflow.Cloud(self.env, 'DEMO')
        cases = cinder_cases.CinderCases(
            cloud, Path(self.env.cinder.nfs_mount),
            {'multistore': self.env.cinder.volume_type,
             'upstream': self.env.cinder_upstream.volume_type})
        size = gib * GiB
        if size not in self.results['sizes']:
            self.results['sizes'].append(size)
        try:
            cases.prepare(data.make(self.data_dir, size), gib)
            self._upload_rounds(cases, selected, CINDER_CASES,
                                cinder_cases.SERVICES, size, runs,
                                'Cinder upload-to-image')
        finally:
            cases.cleanup()

    def _upload_rounds(self, cases, selected: list[str],
                       drivers: dict[str, str], services: dict[str, str],
                       size: int, runs: int, what: str) -> None:
        """Warm up, then ``runs`` rounds of upload-to-image per driver."""
        self._warm_up('%s with each driver' % what,
                      [lambda driver=drivers[case]: cases.upload(driver)
                       for case in selected])
        for run in range(1, runs + 1):
            self.say('%s of %s, round %d of %d'
                     % (what, report.human_size(size), run, runs))
            for case in rotated(selected, run - 1):
                driver = drivers[case]
                seconds, peaks = self._timed(
                    lambda: cases.upload(driver),
                    {'glance_rss_mib': self._monitor('glance'),
                     'cinder_rss_mib': self._monitor(services[driver])})
                self._record(case, size, seconds, **peaks)

    def cinder_rbd_volumes(self, gib: int, runs: int,
                           selected: list[str]) -> None:
        """Upload-to-image of RBD volumes at the edge site, per driver."""
        why = rbd_cases.upstream_missing(self.env)
        if why and 'cinder-rbd-upstream' in selected:
            self.say('skipped cinder-rbd-upstream: %s' % why)
            self.results.setdefault('skipped', {})[
                'cinder-rbd-upstream'] = why
            selected = [c for c in selected if c != 'cinder-rbd-upstream']
        if not selected:
            return
        cloud = workflow.Cloud(self.env, 'DEMO')
        store = self.env.glance.rbd_store(rbd_cases.UPLOAD_SITE)
        types: dict[str, str] = {}
        cases = rbd_cases.RbdUploads(cloud, self.env, types)
        size = gib * GiB
        try:
            for case in selected:
                if CINDER_RBD_CASES[case] == 'upstream':
                    types['upstream'] = rbd_cases.site_type(
                        cloud, self.env, rbd_cases.UPLOAD_SITE, store,
                        self.env.cinder_upstream.rbd_backend,
                        self.env.cinder_upstream.rbd_az)
                else:
                    types['multistore'] = rbd_cases.site_type(
                        cloud, self.env, rbd_cases.UPLOAD_SITE, store)
            if size not in self.results['sizes']:
                self.results['sizes'].append(size)
            written = min(size, self.rbd_written)
            cases.prepare(data.make(self.data_dir, written), gib, written)
            self._upload_rounds(cases, selected, CINDER_RBD_CASES,
                                rbd_cases.SERVICES, size, runs,
                                'Cinder upload-to-image of an RBD volume')
        finally:
            try:
                cases.cleanup()
            finally:
                for type_id in types.values():
                    cloud.delete_volume_type(type_id)

    def volumes_from_images(self, gib: int, image_size: int, runs: int,
                            selected: list[str]) -> None:
        """A volume at the central site from a co-located image (clone)
        and from an image held only at the edge (full copy).
        """
        # NOTE: as admin, who owns the images the Glance cases make.
        cloud = workflow.Cloud(self.env, 'OS')
        vtype = self.env.cinder.site(rbd_cases.CLONE_SITE).volume_type
        cases = rbd_cases.VolumeFromImage(cloud, self.env, self.rbd_glance,
                                          vtype)
        if image_size not in self.results['sizes']:
            self.results['sizes'].append(image_size)
        with self._base_image_in_rbd_stores(cases):
            cases.prepare(data.make(self.data_dir, image_size), image_size)
            for run in range(1, runs + 1):
                self.say('volume from a %s image at the %s site, round %d '
                         'of %d' % (report.human_size(image_size),
                                    rbd_cases.CLONE_SITE, run, runs))
                for case in rotated(selected, run - 1):
                    seconds, peaks = self._timed(
                        lambda: cases.create(case, gib),
                        {'glance_rss_mib': self._monitor('glance'),
                         'cinder_rss_mib': self._monitor(
                             rbd_cases.SERVICES['multistore'])})
                    self._record(case, image_size, seconds, **peaks)

    def colocated_uploads(self, gib: int, runs: int,
                          selected: list[str]) -> None:
        """Upload-to-image of an edge volume from a base image in both
        sites: until usable at the edge, and until both sites hold it;
        with cinder-volume's default (the ``-chain-`` cases), then with
        ``flatten_clones_of_base_images = true``.
        """
        # NOTE: as admin, who owns the base image the Glance cases make.
        cloud = workflow.Cloud(self.env, 'OS')
        vtype = self.env.cinder.site(rbd_cases.UPLOAD_SITE).volume_type
        cases = rbd_cases.ColocatedUploads(cloud, self.env, self.rbd_glance,
                                           vtype)
        size = gib * GiB
        if size not in self.results['sizes']:
            self.results['sizes'].append(size)
        ways = [(names, options) for names, options in (
            (cases.CHAIN_CASES, {}),
            (cases.CASES, {'flatten_clones_of_base_images': 'true'}))
            if set(names) & set(selected)]
        with self._base_image_in_rbd_stores(cases):
            written = min(size, self.rbd_written)
            cases.prepare(data.make(self.data_dir, written), gib, written)
            for names, options in ways:
                with (stack_cinder.volume_options(
                        Path(self.env.directory), **options) if options
                      else contextlib.nullcontext()):
                    # NOTE: a restarted cinder-volume's first uploads also
                    # connect to Ceph and read Glance's stores.
                    self._warm_up('co-located upload-to-image%s' % (
                        ' (restarted cinder-volume)' if options else ''),
                        [cases.upload])
                    for run in range(1, runs + 1):
                        self.say('co-located upload-to-image of a %s edge '
                                 'volume%s, round %d of %d' % (
                                     report.human_size(size),
                                     ' (%s)' % ', '.join(
                                         '%s = %s' % kv
                                         for kv in options.items())
                                     if options else '', run, runs))
                        times = cases.upload()
                        for case, seconds in zip(names, times):
                            self._record(case, size, seconds)

    @contextlib.contextmanager
    def _base_image_in_rbd_stores(self, cases: rbd_cases.RbdVolumeCases
                                  ) -> Iterator[None]:
        """A base image in both rbd stores while ``cases`` run; then the
        cases' cleanup, and the base image deleted.
        """
        self.rbd_glance.prepare(data.make(self.data_dir, MiB))
        try:
            yield
        finally:
            try:
                cases.cleanup()
            finally:
                self.rbd_glance.delete(self.rbd_glance.base_image)
                self.rbd_glance.base_image = None

    def remove_data(self) -> None:
        """Delete the data files."""
        shutil.rmtree(self.data_dir, ignore_errors=True)


def rotated(items: list, shift: int) -> list:
    """``items`` starting at ``shift`` (mod its length), wrapping around.

    Round N starts with the N-th case, so no case always runs first or
    always follows the same one.
    """
    if not items:
        return items
    shift %= len(items)
    return items[shift:] + items[:shift]


def _usage_text(peaks: dict[str, float | None]) -> str:
    """``; Glance 160 MiB 1.4 CPU s; Cinder 158 MiB; machine 55% busy``."""
    parts = []
    if peaks.get('glance_rss_mib') is not None:
        text = 'Glance %.0f MiB' % peaks['glance_rss_mib']
        if peaks.get('glance_cpu_s') is not None:
            text += ' %.1f CPU s' % peaks['glance_cpu_s']
        parts.append(text)
    if peaks.get('cinder_rss_mib') is not None:
        parts.append('Cinder %.0f MiB' % peaks['cinder_rss_mib'])
    if peaks.get('cpu_s') is not None:
        parts.append('%.1f CPU s' % peaks['cpu_s'])
    if peaks.get('busy_pct') is not None:
        parts.append('machine %.0f%% busy' % peaks['busy_pct'])
    return ''.join('; ' + p for p in parts)


def machine(env: StackEnv) -> dict[str, object]:
    """What the numbers were measured on."""
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return 'not installed'
    try:
        with open('/proc/meminfo') as f:
            mem_kib = int(f.readline().split()[1])
    except OSError:
        mem_kib = 0
    return {
        'cpus': os.cpu_count(),
        'memory_gib': round(mem_kib / (1 << 20), 1),
        'python': platform.python_version(),
        'kernel': platform.release(),
        'glance': version('glance'),
        'glance_store': version('glance_store'),
        'cinder': version('cinder'),
        'sql': env.stack.sql,
        'filesystem_store_chunk_size': _chunk_size(env),
        'copy_hash_algorithm': _default('copy_hash_algorithm'),
        'buffer_chunks': _default('buffer_chunks'),
        'copy_writer_nice': _default('copy_writer_nice'),
    }


def _default(name: str) -> object:
    for opt in opts.filter_opts:
        if opt.name == name:
            return opt.default
    return None


def _chunk_size(env: StackEnv) -> str:
    conf = env.glance.conf
    try:
        for line in Path(conf).read_text().splitlines():
            if line.startswith('filesystem_store_chunk_size'):
                return line.split('=', 1)[1].strip()
    except OSError:
        pass
    return '65536 (default)'


def measure(env: StackEnv, directory: Path, options: Options,
            say: Callable[[str], None] = print) -> dict:
    """Run every case on a stack with the reference services added."""
    bench = Bench(env, directory, say, warm_up=options.runs > 1,
                  rbd_written=options.rbd_written)
    glance = options.selected(list(GLANCE_CASES) + list(RBD_GLANCE_CASES)
                              + list(bound.CASES))
    cinder = options.selected(CINDER_CASES)
    cinder_rbd = options.selected(CINDER_RBD_CASES)
    clones = options.selected(CLONE_CASES)
    colocated = options.selected(COLOCATED_CASES)
    no_ceph = rbd_cases.missing(env)
    if no_ceph:
        skipped = [c for c in glance if c in RBD_GLANCE_CASES]
        skipped += cinder_rbd + clones + colocated
        glance = [c for c in glance if c not in RBD_GLANCE_CASES]
        cinder_rbd, clones, colocated = [], [], []
        if skipped:
            say('skipped %s: %s' % (', '.join(skipped), no_ceph))
            bench.results['skipped'] = dict.fromkeys(skipped, no_ceph)
    memory = footprint.CloudMemory(directory).start()
    try:
        if glance:
            bench.glance_sizes(options.sizes, options.runs, glance)
        if (cinder and options.volume_gib
                and env.cinder_upstream is not None):
            bench.cinder_volumes(options.volume_gib, options.runs, cinder)
        for gib in (options.rbd_volume_gibs or [options.volume_gib]):
            if cinder_rbd and gib:
                bench.cinder_rbd_volumes(gib, options.runs, cinder_rbd)
        if colocated and options.volume_gib:
            bench.colocated_uploads(options.volume_gib, options.runs,
                                    colocated)
        if clones and options.volume_gib:
            bench.volumes_from_images(
                options.volume_gib,
                options.clone_image_size or options.volume_gib * GiB,
                options.runs, clones)
    finally:
        bench.remove_data()
        peaks = memory.stop()
        bench.results.setdefault('footprint', {}).update({
            'bench_peaks': peaks, 'bench_services_mib': memory.at_peak,
            'bench_samples': memory.samples})
    bench.results['runs'] = options.runs
    return bench.results


def write_outputs(results: dict, out: Path) -> dict[str, Path]:
    """bench.json, bench.png (chart) and bench.rst (tables) in ``out``.

    Also ``bench-ceph.rst``: the Ceph cases, the whole cloud and their
    targets alone, when there are any.
    """
    out.mkdir(parents=True, exist_ok=True)
    chart = report.draw_chart(results, out / 'bench.png')
    rst = out / 'bench.rst'
    rst.write_text(report.format_rst(results, chart.name))
    paths = {'json': report.write_json(results, out / 'bench.json'),
             'chart': chart, 'rst': rst}
    ceph = report.format_ceph_rst(results)
    if ceph:
        paths['ceph_rst'] = out / 'bench-ceph.rst'
        paths['ceph_rst'].write_text(ceph)
    return paths


def main(directory: str | None, options: Options, keep: bool = False,
         with_cinder: bool = True) -> int:
    """Measure on the stack in ``directory`` or on a new one.

    :returns: 0 when every case ran (targets are reported, not enforced).
    """
    from cinder_multistore_lab import stack
    given = directory is not None and (Path(directory) / 'stack.env').exists()
    stack_dir = Path(directory or tempfile.mkdtemp(prefix='cms-bench-'))
    began = time.monotonic()
    started: dict = {}
    try:
        if not given:
            print('starting the embedded cloud in %s' % stack_dir,
                  flush=True)
            started = footprint.timed_up(stack.up, stack_dir,
                                         with_cinder=with_cinder)
            print('the cloud is up in %.1f s, peak RAM %.0f MiB'
                  % (started['stack_up_s'],
                     started['up_peaks'].get('total_rss_mib', 0)),
                  flush=True)
        print('adding the reference services (Glance without the filter, '
              "cinder-volume with Cinder's image service)", flush=True)
        env = stack.add_bench_services(stack_dir)
        if not with_cinder:
            options.volume_gib = 0
        results = measure(env, stack_dir, options,
                          lambda line: print(line, flush=True))
        results.setdefault('footprint', {}).update(started)
    except (stack.StackError, glance_cases.CaseFailed,
            workflow.StepFailed, cinder_exceptions.ClientException) as exc:
        print('bench failed: %s' % exc, file=sys.stderr)
        return 1
    finally:
        if not given and not keep:
            stack.down(stack_dir)
    print()
    print(report.format_table(results))
    paths = write_outputs(results, Path(options.out))
    written = ', '.join(str(p) for p in paths.values())
    print('\nwrote %s in %.0f s' % (written, time.monotonic() - began))
    return 0
