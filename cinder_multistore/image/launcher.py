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


def main() -> None:
    """Entry point of the ``cinder-multistore-volume`` console script."""
    # NOTE: Cinder's eventlet monkey patching must come before anything
    # imports urllib3 or oslo.context (glanceclient does), exactly as
    # cinder.cmd.volume applies it on its first line.
    from cinder import monkey_patch
    monkey_patch.patch()

    from cinder_multistore.image import cinder_adapter
    cinder_adapter.run_volume_service()


if __name__ == '__main__':
    main()
