"""The ``cinder-multistore`` command."""

import argparse
import logging
import os
import sys
from pathlib import Path


def _in_venv_of(release_name: str) -> None:
    """Run this same command in ``release_name``'s virtualenv, if not here.

    Builds the virtualenv first when it does not exist yet; does not return
    when it re-executes.
    """
    from cinder_multistore.stack import releases
    here = releases.installed()
    if here is not None and here.name == release_name:
        return
    releases.ensure_venv(release_name)
    argv = releases.reexec_argv(release_name, sys.argv[1:])
    print('release %s runs from %s' % (release_name, argv[0]),
          file=sys.stderr, flush=True)
    os.execv(argv[0], argv)


def _stack_up(args: argparse.Namespace) -> int:
    from cinder_multistore import stack
    from cinder_multistore.stack import releases
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
    print('stack is up; source %s/stack.env' % args.dir)
    return 0


def _stack_down(args: argparse.Namespace) -> int:
    from cinder_multistore import stack
    try:
        stack.down(args.dir)
    except stack.StackError as exc:
        print('stack down failed: %s' % exc, file=sys.stderr)
        return 1
    return 0


def _stack_tempest(args: argparse.Namespace) -> int:
    from cinder_multistore import stack
    from cinder_multistore.stack import tempest_run
    # Tempest runs from the stack's own release (its tempest version).
    release = stack.load_env(args.dir).get('STACK_RELEASE')
    if release:
        _in_venv_of(release)
    result = tempest_run.run_tests(args.dir, args.tests,
                                   concurrency=args.concurrency)
    print(result.output)
    print(result.summary())
    return 0 if result.ok else 1


def _demo(args: argparse.Namespace) -> int:
    from cinder_multistore import demo
    return demo.main(args.dir, args.keep)


def _bench(args: argparse.Namespace) -> int:
    from cinder_multistore.bench import runner
    sizes = [runner.parse_size(s) for s in args.sizes.split(',') if s]
    if args.large:
        sizes.append(4 * runner.GiB)
    cases = frozenset(c for c in (args.cases or '').split(',') if c)
    try:
        options = runner.Options(sizes=sizes, runs=args.runs,
                                 volume_gib=args.volume_gib, out=args.out,
                                 cases=cases or None)
    except ValueError as exc:
        print('cinder-multistore bench: %s' % exc, file=sys.stderr)
        return 2
    return runner.main(args.dir, options, keep=args.keep,
                       with_cinder=not args.no_cinder)


def _audit(args: argparse.Namespace) -> int:
    import json
    import warnings
    # NOTE: the report is the output; Glance's imports log and warn.
    logging.getLogger().setLevel(logging.WARNING)
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    from cinder_multistore.glance import audit
    options = audit.Options(
        config_files=tuple(args.config_file or
                           audit.default_config_files(os.environ)),
        config_dirs=tuple(args.config_dir or ()),
        stores=tuple(args.store or ()),
        include_reserved=args.include_reserved, delete=args.delete,
        min_age=args.min_age)
    try:
        report = audit.run(options)
    except audit.AuditError as exc:
        print('cinder-multistore audit: %s' % exc, file=sys.stderr)
        return audit.EXIT_ERROR
    except Exception:  # exit 1 means stray data: never for a crash
        logging.exception('cinder-multistore audit failed')
        return audit.EXIT_ERROR
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for finding in report.findings:
            print(audit.format_finding(finding))
        for error in report.errors:
            print('error: %s' % error, file=sys.stderr)
        print(audit.summary(report))
    return audit.exit_code(report)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from cinder_multistore.stack import releases
    parser = argparse.ArgumentParser(prog='cinder-multistore')
    sub = parser.add_subparsers(dest='command', required=True)
    demo = sub.add_parser(
        'demo', help='start the embedded cloud and show where Cinder '
        'uploads land, case by case')
    demo.add_argument('--dir', help='state directory (default: a new '
                      'temporary one)')
    demo.add_argument('--keep', action='store_true',
                      help='leave the cloud running and print how to use it')
    demo.set_defaults(func=_demo)
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
    aud = sub.add_parser(
        'audit', help='find (and optionally delete) data in file and rbd '
        'stores that no image location points to; run on a glance-api host')
    aud.add_argument('--config-file', action='append', metavar='PATH',
                     help='glance-api.conf (repeatable; default: what '
                     'glance-api reads: glance-image-import.conf if present '
                     'and glance-api.conf of $OS_GLANCE_CONFIG_DIR, '
                     '/etc/glance when unset)')
    aud.add_argument('--config-dir', action='append', metavar='DIR',
                     help='an oslo.config directory of *.conf files')
    aud.add_argument('--store', action='append', metavar='STORE',
                     help='audit only this store (repeatable; a reserved '
                     'store named here is audited)')
    aud.add_argument('--include-reserved', action='store_true',
                     help='also audit os_glance_staging_store and '
                     'os_glance_tasks_store')
    aud.add_argument('--delete', action='store_true',
                     help='delete stray data last written at least '
                     '--min-age seconds ago')
    aud.add_argument('--min-age', type=float, default=3600, metavar='SECONDS',
                     help='with --delete (default: %(default)d)')
    aud.add_argument('--json', action='store_true',
                     help='print the report as JSON')
    aud.set_defaults(func=_audit)
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
    down = st_sub.add_parser('down', help='stop the embedded cloud')
    down.add_argument('--dir', required=True, help='state directory')
    down.set_defaults(func=_stack_down)
    tempest = st_sub.add_parser('tempest',
                                help='run tempest tests against the stack')
    tempest.add_argument('--dir', required=True, help='state directory')
    tempest.add_argument('--concurrency', type=int, default=2)
    tempest.add_argument('tests', nargs='+',
                         help='test modules, classes or ids')
    tempest.set_defaults(func=_stack_tempest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cinder-multistore`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(message)s')
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
