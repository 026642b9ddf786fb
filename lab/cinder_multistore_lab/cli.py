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

"""The lab's commands: ``stack``, ``demo`` and ``bench``.

They run as ``cinder-multistore-lab COMMAND`` and, through the
``cinder_multistore.commands`` entry points, as ``cinder-multistore
COMMAND`` wherever the lab is installed.
"""

import argparse
import os
from pathlib import Path
import sys

from cinder_multistore_lab import shell_hints


def _in_venv_of(release_name: str) -> None:
    """Run this same command in ``release_name``'s virtualenv, if not here.

    Builds the virtualenv first when it does not exist yet; does not return
    when it re-executes.
    """
    from cinder_multistore_lab.stack import releases
    here = releases.installed()
    if here is not None and here.name == release_name:
        return
    releases.ensure_venv(release_name)
    argv = releases.reexec_argv(release_name, sys.argv[1:])
    print('release %s runs from %s' % (release_name, argv[0]),
          file=sys.stderr, flush=True)
    os.execv(argv[0], argv)


def _stack_up(args: argparse.Namespace) -> int:
    from cinder_multistore_lab import stack
    from cinder_multistore_lab.stack import releases
    try:
        release = releases.get(args.release)
        releases.check_server(release, args.glance_server)
        _in_venv_of(release.name)
        stack.up(args.dir, with_cinder=not args.no_cinder,
                 cinder_image_driver=args.cinder_image_driver,
                 glance_server=args.glance_server)
    except stack.StackError as exc:
        print('stack up failed: %s' % exc, file=sys.stderr)
        return 1
    print('stack is up; source %s/stack.env\nstop it with: %s'
          % (args.dir, shell_hints.stack_down(args.dir)))
    return 0


def _stack_down(args: argparse.Namespace) -> int:
    from cinder_multistore_lab import stack
    directory = os.path.abspath(args.dir)
    try:
        stack.down(directory)
        if args.purge:
            if stack.purge(directory):
                print('stack in %s is down and the folder removed'
                      % directory)
            else:
                print('stack in %s is down; what it made is removed, the '
                      'files it did not make are left' % directory)
            return 0
    except stack.StackError as exc:
        print('stack down failed: %s' % exc, file=sys.stderr)
        return 1
    left = stack.left_behind(directory)
    if left:
        print('stack in %s is down; its logs and store data (%s) are left '
              'there: remove them with %s'
              % (directory, shell_hints.size(left),
                 shell_hints.stack_down(directory, purge=True)))
    else:
        print('stack in %s is down' % directory)
    return 0


def _stack_tempest(args: argparse.Namespace) -> int:
    from cinder_multistore_lab import stack
    from cinder_multistore_lab.stack import tempest_run

    # Tempest runs from the stack's own release (its tempest version).
    release = stack.load_env(args.dir).stack.release
    if release:
        _in_venv_of(release)
    result = tempest_run.run_tests(args.dir, args.tests,
                                   concurrency=args.concurrency)
    print(result.output)
    print(result.summary())
    return 0 if result.ok else 1


def _demo(args: argparse.Namespace) -> int:
    from cinder_multistore_lab import demo
    return demo.main(args.dir, args.keep)


def _bench(args: argparse.Namespace) -> int:
    from cinder_multistore_lab.bench import runner
    sizes = [runner.parse_size(s) for s in args.sizes.split(',') if s]
    if args.large:
        sizes.append(4 * runner.GiB)
    cases = frozenset(c for c in (args.cases or '').split(',') if c)
    try:
        rbd_gibs = [int(g) for g in (args.rbd_volume_gib or '').split(',')
                    if g]
        options = runner.Options(sizes=sizes, runs=args.runs,
                                 volume_gib=args.volume_gib, out=args.out,
                                 cases=cases or None,
                                 rbd_volume_gibs=rbd_gibs or None)
    except ValueError as exc:
        print('cinder-multistore bench: %s' % exc, file=sys.stderr)
        return 2
    return runner.main(args.dir, options, keep=args.keep,
                       with_cinder=not args.no_cinder)


def add_demo(sub) -> None:
    """The ``demo`` sub-command."""
    demo = sub.add_parser(
        'demo', help='start the embedded cloud and show where Cinder '
        'uploads land, case by case')
    demo.add_argument('--dir', help='state directory (default: a new '
                      'temporary one)')
    demo.add_argument('--keep', action='store_true',
                      help='leave the cloud running and print how to use it')
    demo.set_defaults(func=_demo)


def add_bench(sub) -> None:
    """The ``bench`` sub-command."""
    bench = sub.add_parser(
        'bench', help='measure the upload paths side by side (co-location '
        'vs upstream copy-image, filter overhead, Cinder driver) and write '
        'a JSON file and a chart')
    bench.add_argument('--dir', help='a running stack to use (default: '
                       'start one in a temporary directory)')
    bench.add_argument('--sizes', default='256M,1G',
                       help='image sizes, comma separated (default: '
                       '%(default)s)')
    bench.add_argument('--large', action='store_true',
                       help='also measure 4 GiB')
    bench.add_argument('--runs', type=int, default=5,
                       help='rounds per size; each round runs every case '
                       'once (default: %(default)s)')
    bench.add_argument('--volume-gib', type=int, default=1,
                       help='size of the volumes uploaded by Cinder, 0 to '
                       'skip the Cinder cases (default: %(default)s)')
    bench.add_argument('--rbd-volume-gib', metavar='GIB,...',
                       help='sizes of the RBD volumes uploaded to images, '
                       'each with at most 2 GiB written (default: '
                       '--volume-gib)')
    bench.add_argument('--cases', metavar='CASE,...',
                       help='only these cases (default: all), e.g. '
                       'colocated-3 to profile it')
    bench.add_argument('--no-cinder', action='store_true',
                       help='start the cloud without Cinder')
    bench.add_argument('--out', default='bench-results', type=Path,
                       help='folder for bench.json, bench.png, bench.rst '
                       '(default: %(default)s)')
    bench.add_argument('--keep', action='store_true',
                       help='leave the cloud the bench started running')
    bench.set_defaults(func=_bench)


def add_stack(sub) -> None:
    """The ``stack up|down|tempest`` sub-commands."""
    from cinder_multistore_lab.stack import releases
    st = sub.add_parser('stack', help='start or stop the embedded cloud')
    st_sub = st.add_subparsers(dest='action', required=True)
    up = st_sub.add_parser('up', help='start the embedded cloud')
    up.add_argument('--dir', required=True, help='state directory')
    up.add_argument('--no-cinder', action='store_true',
                    help='start only Keystone and Glance')
    up.add_argument('--cinder-image-driver', default='multistore',
                    choices=('multistore', 'upstream'),
                    help='how cinder-volume talks to Glance')
    up.add_argument('--release', default=releases.NEWEST,
                    choices=releases.NAMES,
                    help='OpenStack release of the services (default: '
                    '%(default)s); each runs from its own virtualenv, '
                    'built on first use')
    up.add_argument('--glance-server', default='uwsgi',
                    choices=releases.GLANCE_SERVERS,
                    help='how glance-api is served: uwsgi (every release) '
                    'or eventlet (the glance-api command, 2025.1 and '
                    '2025.2)')
    up.set_defaults(func=_stack_up)
    down = st_sub.add_parser(
        'down', help='stop the embedded cloud; its logs and store data stay '
        'in the state directory unless --purge is given')
    down.add_argument('--dir', required=True, help='state directory')
    down.add_argument('--purge', action='store_true',
                      help='also remove what the stack left in the state '
                      'directory (logs, store data), and the directory '
                      'when nothing else is in it')
    down.set_defaults(func=_stack_down)
    tempest = st_sub.add_parser('tempest',
                                help='run tempest tests against the stack')
    tempest.add_argument('--dir', required=True, help='state directory')
    tempest.add_argument('--concurrency', type=int, default=2)
    tempest.add_argument('tests', nargs='+',
                         help='test modules, classes or ids')
    tempest.set_defaults(func=_stack_tempest)


def build_parser() -> argparse.ArgumentParser:
    """The ``cinder-multistore-lab`` argument parser."""
    parser = argparse.ArgumentParser(prog='cinder-multistore-lab')
    sub = parser.add_subparsers(dest='command', required=True)
    for add in (add_bench, add_demo, add_stack):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cinder-multistore-lab`` command."""
    from cinder_multistore.cmd import cli as product_cli
    return product_cli.run(build_parser(), argv)


if __name__ == '__main__':
    sys.exit(main())
