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

"""The ``cinder-multistore`` command: operator tools for a glance-api host.

The product's own sub-command is ``audit``. Other distributions add theirs
through the ``cinder_multistore.commands`` entry point group: each entry
point is a callable taking the sub-parsers object and adding its commands
(the embedded cloud's lab adds ``stack``, ``demo`` and ``bench``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import importlib.metadata
import logging
import os
import sys
from typing import cast
from typing import TYPE_CHECKING

from stevedore import extension

if TYPE_CHECKING:
    from typing import TypeAlias

    #: What ``add_subparsers()`` returns; each command adds its parser.
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    #: A ``cinder_multistore.commands`` entry point: adds its commands.
    CommandPlugin: TypeAlias = Callable[[SubParsers], None]


COMMANDS_NAMESPACE = 'cinder_multistore.commands'

LOG = logging.getLogger(__name__)


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
        min_age=args.min_age, no_uploads_running=args.no_uploads_running)
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
        for warning in report.warnings:
            print('warning: %s' % warning, file=sys.stderr)
        for error in report.errors:
            print('error: %s' % error, file=sys.stderr)
        print(audit.summary(report))
    return audit.exit_code(report)


def _add_audit(sub: SubParsers) -> None:
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
                     help='with --delete (default: %(default)d); refused '
                     'below the longest time an upload may take to settle: '
                     'the writable stores x 2 x [multistore_filter] '
                     'copy_stall_timeout')
    aud.add_argument('--no-uploads-running', action='store_true',
                     help='state that no glance-api is writing these stores '
                     '(all stopped): allows a --min-age below the settle '
                     'time')
    aud.add_argument('--json', action='store_true',
                     help='print the report as JSON')
    aud.set_defaults(func=_audit)


def _add_plugged_commands(sub: SubParsers) -> None:
    """Sub-commands registered by other distributions (entry points)."""
    def _failed(manager: extension.ExtensionManager[CommandPlugin],
                entrypoint: importlib.metadata.EntryPoint,
                exc: BaseException) -> None:
        LOG.warning('sub-commands of %s not loaded: %s', entrypoint, exc)

    manager = extension.ExtensionManager(
        COMMANDS_NAMESPACE, invoke_on_load=False,
        on_load_failure_callback=_failed)
    for ext in sorted(manager, key=lambda e: e.name):
        # NOTE: stevedore types a plugin as a class; these are functions.
        add_commands = cast('CommandPlugin', ext.plugin)
        add_commands(sub)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog='cinder-multistore')
    sub = parser.add_subparsers(dest='command', required=True)
    _add_audit(sub)
    _add_plugged_commands(sub)
    return parser


def run(parser: argparse.ArgumentParser,
        argv: list[str] | None = None) -> int:
    """Parse ``argv`` with ``parser``, set up logging, run the command."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(message)s')
    result: int = args.func(args)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cinder-multistore`` command."""
    return run(build_parser(), argv)


if __name__ == '__main__':
    sys.exit(main())
