"""The ``cinder-multistore`` command."""

import argparse
import sys


def _stack_up(args: argparse.Namespace) -> int:
    from cinder_multistore import stack
    stack.up(args.dir, with_cinder=not args.no_cinder)
    print('stack is up; source %s/stack.env' % args.dir)
    return 0


def _stack_down(args: argparse.Namespace) -> int:
    from cinder_multistore import stack
    stack.down(args.dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog='cinder-multistore')
    sub = parser.add_subparsers(dest='command', required=True)
    st = sub.add_parser('stack', help='start or stop the embedded cloud')
    st_sub = st.add_subparsers(dest='action', required=True)
    up = st_sub.add_parser('up', help='start the embedded cloud')
    up.add_argument('--dir', required=True, help='state directory')
    up.add_argument('--no-cinder', action='store_true',
                    help='start only Keystone and Glance')
    up.set_defaults(func=_stack_up)
    down = st_sub.add_parser('down', help='stop the embedded cloud')
    down.add_argument('--dir', required=True, help='state directory')
    down.set_defaults(func=_stack_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cinder-multistore`` command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
