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

"""The run's SQL databases: MariaDB/MySQL when it answers, else PostgreSQL.

Each run creates databases named ``cms_<run id>_<service>`` and drops them
on ``down``. MariaDB is reached as ``root`` without a password on
127.0.0.1:3306 and PostgreSQL as ``postgres`` (trust) on 127.0.0.1:5432
(``CMS_STACK_SQL`` picks one);
``CMS_MYSQL_USER``/``CMS_MYSQL_PASSWORD`` and ``CMS_PG_USER``/
``CMS_PG_PASSWORD`` override the credentials.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse

from cinder_multistore_lab.stack import process


LOG = logging.getLogger(__name__)

HOST = '127.0.0.1'
MYSQL_PORT = 3306
PG_PORT = 5432

_NAME = re.compile(r'^[a-z0-9_]{1,63}$')


def detect() -> str:
    """Return ``mysql`` or ``postgresql``, whichever answers first.

    ``CMS_STACK_SQL=mysql|postgresql`` chooses one explicitly.

    :raises StackError: when neither server answers.
    """
    forced = os.environ.get('CMS_STACK_SQL', '').strip().lower()
    if forced:
        if forced not in ('mysql', 'postgresql'):
            raise process.StackError('CMS_STACK_SQL must be mysql or '
                                     'postgresql, not %r' % forced)
        port = MYSQL_PORT if forced == 'mysql' else PG_PORT
        if not process.port_open(HOST, port):
            raise process.StackError('CMS_STACK_SQL=%s but nothing answers '
                                     'on %s:%d' % (forced, HOST, port))
        return forced
    if process.port_open(HOST, MYSQL_PORT):
        return 'mysql'
    if process.port_open(HOST, PG_PORT):
        return 'postgresql'
    raise process.StackError(
        'no SQL server answers on %s:%d (MariaDB) or %s:%d (PostgreSQL); '
        'run tools/setup.sh' % (HOST, MYSQL_PORT, HOST, PG_PORT))


def _mysql_creds() -> tuple[str, str]:
    return (os.environ.get('CMS_MYSQL_USER', 'root'),
            os.environ.get('CMS_MYSQL_PASSWORD', ''))


def _pg_creds() -> tuple[str, str]:
    return (os.environ.get('CMS_PG_USER', 'postgres'),
            os.environ.get('CMS_PG_PASSWORD', ''))


def _check(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError('bad database name %r' % name)


def _userinfo(user: str, password: str) -> str:
    """``user[:password]``, quoted for a URL."""
    auth = urllib.parse.quote(user, safe='')
    if password:
        auth += ':' + urllib.parse.quote(password, safe='')
    return auth


def url(backend: str, name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on ``backend``."""
    _check(name)
    if backend == 'mysql':
        auth = _userinfo(*_mysql_creds())
        return 'mysql+pymysql://%s@%s:%d/%s?charset=utf8' % (
            auth, HOST, MYSQL_PORT, name)
    if backend == 'postgresql':
        auth = _userinfo(*_pg_creds())
        return 'postgresql+psycopg2://%s@%s:%d/%s' % (
            auth, HOST, PG_PORT, name)
    raise ValueError('unknown SQL backend %r' % backend)


def _mysql_exec(statement: str) -> None:
    import pymysql
    user, password = _mysql_creds()
    conn = pymysql.connect(host=HOST, port=MYSQL_PORT, user=user,
                           password=password, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _pg_exec(statement: str) -> None:
    import psycopg2
    user, password = _pg_creds()
    conn = psycopg2.connect(host=HOST, port=PG_PORT, user=user,
                            password=password or None, dbname='postgres')
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create(backend: str, name: str) -> None:
    """Create the empty database ``name`` (dropping a leftover first)."""
    _check(name)
    drop(backend, name)
    LOG.info('creating %s database %s', backend, name)
    if backend == 'mysql':
        _mysql_exec('CREATE DATABASE `%s` CHARACTER SET utf8' % name)
    else:
        _pg_exec('CREATE DATABASE "%s" ENCODING \'UTF8\' TEMPLATE template0'
                 % name)


def drop(backend: str, name: str) -> None:
    """Drop database ``name`` if it exists; connections are cut."""
    _check(name)
    if backend == 'mysql':
        _mysql_exec('DROP DATABASE IF EXISTS `%s`' % name)
    else:
        _pg_exec('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def exists(backend: str, name: str) -> bool:
    """True when database ``name`` exists."""
    _check(name)
    if backend == 'mysql':
        import pymysql
        user, password = _mysql_creds()
        conn = pymysql.connect(host=HOST, port=MYSQL_PORT, user=user,
                               password=password)
        try:
            with conn.cursor() as cur:
                cur.execute('SHOW DATABASES LIKE %s', (name,))
                return bool(cur.fetchall())
        finally:
            conn.close()
    import psycopg2
    user, password = _pg_creds()
    conn = psycopg2.connect(host=HOST, port=PG_PORT, user=user,
                            password=password or None, dbname='postgres')
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT 1 FROM pg_database WHERE datname = %s',
                        (name,))
            return bool(cur.fetchall())
    finally:
        conn.close()
