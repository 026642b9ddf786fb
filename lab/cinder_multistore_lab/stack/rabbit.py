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

"""The run's RabbitMQ vhost (Cinder's RPC), made with ``rabbitmqctl``."""

from __future__ import annotations

import logging
import shutil
import subprocess

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State


LOG = logging.getLogger(__name__)

PORT = 5672
USER = 'guest'
PASSWORD = 'guest'


def _ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    ctl = shutil.which('rabbitmqctl')
    if ctl is None:
        raise process.StackError('rabbitmqctl is not installed; run '
                                 'tools/setup.sh')
    result = subprocess.run([ctl, *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    if check and result.returncode != 0:
        raise process.StackError('rabbitmqctl %s failed: %s' % (
            ' '.join(args), (result.stderr or result.stdout).strip()))
    return result


def vhost_name(state: State) -> str:
    """The run's vhost name."""
    return 'cms_%s' % state.run_id


def create_vhost(state: State) -> None:
    """Create the run's vhost and give ``guest`` every right on it."""
    if not process.port_open(common.HOST, PORT):
        raise process.StackError('RabbitMQ does not answer on %s:%d; run '
                                 'tools/setup.sh' % (common.HOST, PORT))
    vhost = vhost_name(state)
    state.vhost = vhost
    state.save()
    _ctl('add_vhost', vhost)
    _ctl('set_permissions', '-p', vhost, USER, '.*', '.*', '.*')
    LOG.info('created RabbitMQ vhost %s', vhost)


def delete_vhost(vhost: str) -> None:
    """Delete ``vhost`` if it exists."""
    result = _ctl('delete_vhost', vhost, check=False)
    if result.returncode != 0:
        listed = _ctl('list_vhosts', '--quiet', '--no-table-headers',
                      check=False).stdout.split()
        if vhost in listed:
            raise process.StackError('rabbitmqctl delete_vhost %s failed: %s'
                                     % (vhost, result.stderr.strip()))
        return
    LOG.info('deleted RabbitMQ vhost %s', vhost)


def transport_url(state: State) -> str:
    """The oslo.messaging transport URL of the run's vhost."""
    return 'rabbit://%s:%s@%s:%d/%s' % (USER, PASSWORD, common.HOST, PORT,
                                        state.vhost or vhost_name(state))
