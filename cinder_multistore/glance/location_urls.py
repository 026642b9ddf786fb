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

"""Location URLs as Glance keeps them in its database.

With ``[DEFAULT] metadata_encryption_key`` set (deprecated since Dalmatian
but still honoured), Glance stores every location URL encrypted with
``glance.common.crypt.urlsafe_encrypt`` and decrypts it when it reads an
image (``glance.db.ImageRepo``) or scrubs one (``glance.scrubber``). Code
that reads or writes location rows itself must do the same, with Glance's
own helpers: a URL that is compared, deleted or registered as stored in
the database would name no data at all.
"""

from __future__ import annotations

import logging


LOG = logging.getLogger(__name__)


def looks_like_url(value: str) -> bool:
    """True for ``scheme://...`` (what every glance_store location is)."""
    scheme, sep, _rest = value.partition('://')
    return bool(sep) and scheme.isascii() and scheme.replace(
        '+', '').replace('-', '').replace('.', '').isalnum()


def decrypt(key: str, stored: str) -> str | None:
    """The URL Glance decrypts from ``stored``, or None when it cannot.

    :param key: ``metadata_encryption_key``.
    """
    from glance.common import crypt
    try:
        url = crypt.urlsafe_decrypt(key, stored)
    except Exception as exc:  # binascii, cryptography, UnicodeDecodeError
        LOG.debug('location %.12s... does not decrypt: %s', stored, exc)
        return None
    return url if isinstance(url, str) and looks_like_url(url) else None


def readable(stored: str, key: str | None) -> str | None:
    """The location URL a database value stands for, or None.

    With a key, the value is decrypted as Glance does; a value that does
    not decrypt but is a plain URL (written before the key was set) is
    taken as it is. Without a key, only a plain URL is readable: anything
    else was written by a glance-api that has a key this one lacks.
    """
    if key:
        url = decrypt(key, stored)
        if url is not None:
            return url
    return stored if looks_like_url(stored) else None


def stored_form(url: str, key: str | None) -> str:
    """The value Glance writes to the database for location ``url``."""
    if not key:
        return url
    from glance.common import crypt
    encrypted: str = crypt.urlsafe_encrypt(key, url)
    return encrypted
