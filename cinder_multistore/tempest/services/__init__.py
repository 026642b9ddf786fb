"""Service clients of the cinder-multistore tempest plugin."""

from cinder_multistore.tempest.services.image_client import \
    MultiStoreImagesClient

__all__ = ['MultiStoreImagesClient']
