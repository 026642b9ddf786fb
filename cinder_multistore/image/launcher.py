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

"""``cinder-multistore-volume``: run cinder-volume with the multistore driver.

Cinder has no option that chooses its image service, so the operator
chooses it by starting the volume service with this command instead of
``cinder-volume``. It takes exactly the same arguments and configuration
files, and runs Cinder's own ``cinder.cmd.volume.main()``; the only
difference is that, before ``main()`` reads the configuration, it calls
:func:`cinder_multistore.image.cinder_adapter.install`, which points
``cinder.image.glance.get_default_image_service`` and
``cinder.image.glance.get_remote_image_service`` at
:class:`~cinder_multistore.image.cinder_adapter.MultistoreImageService`.
The volume manager's ``copy_volume_to_image`` (and every other place
cinder-volume asks for an image service) then uses it, in the parent process
and in every per-backend child it forks.

The exact change for an operator:

1. Install cinder-multistore in the same Python environment as Cinder.
2. Start the volume service as ``cinder-multistore-volume --config-file
   /etc/cinder/cinder.conf`` instead of ``cinder-volume --config-file
   /etc/cinder/cinder.conf`` (for a systemd unit, change ``ExecStart``).
   ``python -m cinder_multistore.image.launcher`` does the same.
3. Optionally tune ``[cinder_multistore] upload_chunk_size`` and
   ``validate_store`` in cinder.conf.
4. Check the volume service's log for this line at startup::

       cinder-multistore image service is active: ...

Only cinder-volume needs the launcher: it is the service that uploads
volumes to Glance. To go back, start ``cinder-volume`` again.

Nothing is patched when this module is imported; only :func:`main` acts.
"""

import importlib
import importlib.util


#: Cinder's eventlet monkey patching, from Cinder 29.
MONKEY_PATCH_MODULE = 'cinder.monkey_patch'
#: cinder-volume's own command module; it patches on import before 29.
VOLUME_CMD_MODULE = 'cinder.cmd.volume'


def apply_monkey_patching() -> str:
    """Apply Cinder's eventlet monkey patching as its ``cinder-volume`` does.

    It must come before anything imports urllib3 or oslo.context
    (glanceclient does), exactly as ``cinder.cmd.volume`` applies it on its
    first lines. Cinder 29 and later have ``cinder.monkey_patch``; Cinder
    26 to 28 patch in the body of ``cinder.cmd.volume`` when it is
    imported (``eventlet.monkey_patch()`` and the ``current_thread`` fix).

    :returns: the module that applied it.
    """
    if importlib.util.find_spec(MONKEY_PATCH_MODULE) is not None:
        importlib.import_module(MONKEY_PATCH_MODULE).patch()
        return MONKEY_PATCH_MODULE
    importlib.import_module(VOLUME_CMD_MODULE)
    return VOLUME_CMD_MODULE


def main() -> None:
    """Entry point of the ``cinder-multistore-volume`` console script."""
    apply_monkey_patching()

    from cinder_multistore.image import cinder_adapter
    cinder_adapter.run_volume_service()


if __name__ == '__main__':
    main()
