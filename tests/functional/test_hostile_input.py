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

"""Property-based hostile input against the real Glance and its filter.

Random placement headers (store names, base image references, image
sizes), chunked or sized bodies on ``PUT /v2/images/{id}/file``, and
random JSON bodies on ``POST /v2/images/{id}/import``. Properties:

* never a 5xx;
* an upload is answered as a glance-api without the filter answers the
  same request once the filter has chosen the store (same status), except
  that a store the rules refuse gets a 400;
* a refused or failed upload leaves the image ``queued`` and no file of it
  in any store folder; an accepted one puts the data exactly where
  :func:`cinder_multistore.placement.decide_upload` says;
* an import gets the same class of answer as from the glance-api without
  the filter, except that a store the rules refuse gets a 400 and leaves
  the image as it was.

The reference glance-api (``GLANCE_PLAIN_ENDPOINT``, upstream's pipeline on
the same database and stores) is started with the stack's own
``add_bench_services`` when it does not run yet.
"""

import hashlib
import http.client
import io
import json
import re
import time
import urllib.parse
import uuid

from glanceclient import exc as glance_exc
from hypothesis import event
from hypothesis import example
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from cinder_multistore.glance import middleware
from cinder_multistore import placement
from cinder_multistore_lab import stack
from tests.functional import cloud
from tests.functional import probes


# No "explain" phase: on the real services it costs more than the search.
SETTINGS = settings(max_examples=40, deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate,
                            Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])

# -- HTTP over http.client: any header bytes, chunked or sized --------------

#: The status reported when the server closes the connection unanswered.
NO_ANSWER = 0


def _request(endpoint, token, method, path, headers, body=b'',
             chunked=False, content_type='application/octet-stream'):
    """Send one request; return ``(status, headers, body text)``.

    ``headers`` maps names to ``bytes`` values (sent as they are).
    """
    url = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader('X-Auth-Token', token)
        conn.putheader('Content-Type', content_type)
        for name, value in headers.items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader('Transfer-Encoding', 'chunked')
        else:
            conn.putheader('Content-Length', str(len(body)))
        conn.endheaders()
        try:
            if chunked:
                for i in range(0, len(body), 4096):
                    part = body[i:i + 4096]
                    conn.send(b'%x\r\n%s\r\n' % (len(part), part))
                conn.send(b'0\r\n\r\n')
            else:
                conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            # Answered (400) before the body was read: read the answer.
            pass
        try:
            resp = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
            # Worse than a 5xx: the server dropped the request unanswered.
            return NO_ANSWER, {}, 'no answer: %r' % exc
        return (resp.status, {k.lower(): v for k, v in resp.getheaders()},
                resp.read().decode('utf-8', 'replace'))
    finally:
        conn.close()


def _seen(value):
    """The header as the WSGI application sees it (latin-1 str) or None."""
    return None if value is None else value.decode('latin-1')


# -- the cloud ------------------------------------------------------------

@pytest.fixture(scope='module')
def plain(stack_env):
    """The endpoint of a glance-api without the filter."""
    plain = stack_env.glance_plain
    if plain is None:
        plain = stack.add_bench_services(stack_env.directory).glance_plain
    assert plain is not None
    return plain.endpoint


@pytest.fixture(scope='module')
def catalog(demo):
    listing = demo.session.get(demo.endpoint + '/v2/info/stores').json()
    return placement.catalog_from_listing(listing['stores'])


#: The base images of the ``bases`` fixture, in this order.
BASES = ('three-stores', 'two-stores', 'with-small-store', 'queued',
         'public-of-admin', 'hidden', 'missing')


class Bases(dict):
    """id -> what the demo user may know of the image (None: nothing);
    ``ids`` lists the ids in the order of :data:`BASES`.
    """

    ids: list


@pytest.fixture(scope='module')
def bases(stack_env, demo, alt):
    """The base images the strategies refer to (see :data:`BASES`)."""
    three = demo.image_in(b'3' * 4096, ['alpha', 'beta', 'gamma'])
    two = demo.image_in(b'2' * 4096, ['beta', 'gamma'])
    small = demo.image_in(b's' * 1024, ['alpha', 'delta'])
    queued = demo.create(name='cms-hostile-queued')
    hidden = alt.image_in(b'h' * 2048, ['beta', 'gamma'])
    public = demo.get(stack_env.glance.image_id)
    made = Bases()
    for image in (three, two, small, public):
        made[image['id']] = placement.BaseImage(
            image['id'], image['status'], tuple(cloud.stores_of(image)))
    made[queued.id] = placement.BaseImage(queued.id, 'queued', ())
    made[hidden['id']] = None
    missing = str(uuid.uuid4())
    made[missing] = None
    made.ids = [three['id'], two['id'], small['id'], queued.id,
                public['id'], hidden['id'], missing]
    yield made
    for image_id in made.ids[:4]:
        demo.glance.images.delete(image_id)
    alt.glance.images.delete(hidden['id'])


# -- strategies -------------------------------------------------------------

#: Printable latin-1 (no control characters, so no CR/LF).
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xff,
                       blacklist_categories=('Cc',))
UNICODE = st.characters(blacklist_categories=('Cc', 'Cs'))
STORE_NAMES = ['alpha', 'beta', 'gamma', 'delta', 'web',
               'os_glance_staging_store', 'os_glance_tasks_store',
               'os_glance_', 'no-such-store', 'ALPHA', ' beta ', 'alpha,beta',
               '', '../alpha', 'alpha/../beta', '%61lpha', 'file', 'http',
               'alpha ', '\xa0gamma', 'a' * 255, 'a' * 256]


def _latin1(text):
    return text.encode('latin-1')


def _header_text(max_size):
    """Any sendable header value: latin-1 text, or UTF-8 of any text."""
    return st.one_of(
        st.text(LATIN1, max_size=max_size).map(_latin1),
        st.text(UNICODE, max_size=max_size).map(
            lambda s: s.encode('utf-8')))


def _weighted(*choices):
    """One of the strategies, each drawn about ``weight`` times as often.

    ``choices`` are ``(weight, strategy)`` pairs (``one_of`` gives every
    branch about the same share, whatever is repeated).
    """
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(pool))).flatmap(lambda i: pool[i])


# No store about half the time, so that the base reference matters.
store_values = _weighted(
    (6, st.none()),
    (2, st.sampled_from(STORE_NAMES).map(_latin1)),
    (1, _header_text(300)),
    (1, st.text(LATIN1, min_size=1000, max_size=6000).map(_latin1)))


#: How a base image id may be written (all but the last are valid UUIDs).
FORMS = (str, str.upper, '{{{}}}'.format, 'urn:uuid:{}'.format,
         lambda s: s.replace('-', ''), ' {} '.format, lambda s: s[:-1])

#: A base reference: None, ``(index in BASES, index in FORMS)``, or bytes.
base_values = _weighted(
    (1, st.none()),
    (8, st.tuples(st.integers(0, len(BASES) - 1),
                  st.integers(0, len(FORMS) - 1))),
    (1, _header_text(80)),
    (1, st.uuids().map(lambda u: str(u).encode())))


def _base_header(value, bases):
    """The header bytes for a drawn base reference."""
    if isinstance(value, tuple):
        index, form = value
        return FORMS[form](bases.ids[index]).encode()
    return value


size_values = _weighted(
    (4, st.none()),
    (1, st.integers(-2 ** 63, 2 ** 64).map(lambda n: str(n).encode())),
    (1, st.sampled_from([b'', b'abc', b'1e3', b'0x10', b' 12 ', b'+5',
                         b'-0', b'9' * 100,
                         '\u0661\u0662'.encode('utf-8'), b'1_000',
                         b'\xb2'])),
    (1, _header_text(20)))


def _base_info(value, bases):
    ref = placement.parse_base_ref(_seen(value))
    return bases.get(ref) if ref else None


def _image_state(client, image_id):
    try:
        return client.get(image_id)
    except glance_exc.HTTPNotFound:
        return {'status': 'deleted', 'stores': ''}


def _delete(client, *image_ids):
    for image_id in image_ids:
        try:
            client.glance.images.delete(image_id)
        except glance_exc.HTTPException:
            pass


def _placement_headers(store, base) -> dict:
    """The store and base image headers, each only when given."""
    headers = {}
    if store is not None:
        headers[placement.STORE_HEADER] = store
    if base is not None:
        headers[placement.BASE_IMAGE_HEADER] = base
    return headers


# -- uploads ------------------------------------------------------------------

@SETTINGS
@given(chunked=st.booleans(), body=st.binary(min_size=0, max_size=96 * 1024),
       store=store_values, size=size_values, base=base_values)
# Co-location whose request Glance then refuses (bad size): the copies
# already started must go.
@example(chunked=True, body=b'x' * 70000, store=None, size=b'abc',
         base=(0, 0))
@example(chunked=False, body=b'y' * 5000, store=None, size=b'-1',
         base=(2, 3))
# An empty body co-located, chunked or of Content-Length 0 (which Glance
# stores without reading it); a store name padded with a no-break space.
@example(chunked=True, body=b'', store=None, size=None, base=(1, 4))
@example(chunked=False, body=b'', store=None, size=None, base=(0, 0))
@example(chunked=False, body=b'z', store=b'\xa0gamma', size=None,
         base=(0, 1))
def test_hostile_upload_headers(stack_env, demo, plain, catalog, bases,
                                chunked, body, store, size, base):
    base = _base_header(base, bases)
    decision = placement.decide_upload(_seen(store), _seen(base), catalog,
                                       _base_info(base, bases))
    token = demo.session.get_token()
    headers = _placement_headers(store, base)
    if size is not None:
        headers[middleware.SIZE_HEADER] = size
    event('upload: %s' % decision.rule.value)
    image = demo.create(name='cms-hostile-upload')
    reference = None
    try:
        status, resp_headers, text = _request(
            stack_env.glance.endpoint, token, 'PUT',
            '/v2/images/%s/file' % image.id, headers, body, chunked)
        note = '%d %s %s' % (status, resp_headers, text[:300])
        event('upload: %d' % status)
        assert NO_ANSWER < status < 500, note
        if decision.rejected:
            assert status == 400, note
            # The message names the store (webob's plain-text error body
            # drops anything that looks like an HTML tag).
            assert 'Store ' in text, note
            assert placement.describe_problem('', decision.problem)[
                len("Store '' "):] in text, note
            if '<' not in decision.reason:
                assert decision.reason in text, note
        else:
            # What Glance itself answers once the store is chosen.
            reference = demo.create(name='cms-hostile-reference')
            plain_headers = {placement.STORE_HEADER:
                             decision.primary.encode()}
            if size is not None:
                plain_headers[middleware.SIZE_HEADER] = size
            expected, _, plain_text = _request(
                plain, token, 'PUT', '/v2/images/%s/file' % reference.id,
                plain_headers, body, chunked)
            assert status == expected, '%s; without the filter: %d %s' % (
                note, expected, plain_text[:300])
        got = _image_state(demo, image.id)
        if status >= 400:
            assert got['status'] == 'queued', (got, note)
            assert cloud.stores_of(got) == [], (got, note)
            assert probes.wait_no_leftovers(stack_env, image.id, 10) == {}
            return
        assert got['status'] == 'active', (got, note)
        assert cloud.stores_of(got) == list(decision.stores), (got, note)
        assert resp_headers.get(middleware.WRITTEN_HEADER.lower()) == (
            ','.join(decision.stores)), note
        assert resp_headers.get(middleware.RULE_HEADER.lower()) == (
            decision.rule.value), note
        md5 = hashlib.md5(body).hexdigest()
        assert got['checksum'] == md5
        assert probes.store_md5s(stack_env, image.id) == {
            s: md5 for s in decision.stores}, note
        assert sorted(probes.leftovers(stack_env, image.id)) == sorted(
            decision.stores)
    finally:
        _delete(demo, image.id, *([reference.id] if reference else []))


# -- imports ------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20),
                         st.sampled_from(STORE_NAMES))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner,
                                            max_size=3)),
    max_leaves=6)
METHODS = ['glance-direct', 'web-download', 'copy-image', 'bogus', '']


def _method_values(uri):
    return _weighted(
        (2, st.builds(lambda n: {'name': n}, st.sampled_from(METHODS))),
        (1, st.just({'name': 'web-download', 'uri': uri})),
        (1, st.builds(lambda n, extra: dict(extra, name=n),
                      st.sampled_from(METHODS),
                      st.dictionaries(st.sampled_from(
                          ['uri', 'glance_region', 'glance_image_id']),
                          json_values, max_size=2))),
        (1, st.sampled_from(METHODS)),
        (1, json_values))


store_lists = _weighted(
    (3, st.lists(st.sampled_from(STORE_NAMES), min_size=0, max_size=3)),
    (1, st.lists(json_values, max_size=3)),
    (1, json_values))


#: Replaced by ``HTTP_IMAGE_URL`` in the request.
URI = 'HTTP_IMAGE_URL'


def _import_bodies():
    """Mostly a valid request with hostile fields, sometimes any JSON
    object, rarely any JSON value.
    """
    fields = {'stores': store_lists, 'all_stores': json_values,
              'all_stores_must_succeed': json_values}
    near_valid = st.fixed_dictionaries(
        {'method': st.sampled_from([{'name': 'glance-direct'},
                                    {'name': 'web-download', 'uri': URI}])},
        optional=fields)
    anything = st.fixed_dictionaries(
        {}, optional=dict(fields, method=_method_values(URI),
                          extra=json_values))
    return _weighted((6, near_valid), (3, anything), (1, json_values))


import_bodies = _import_bodies()


def _wants_queued(body):
    """web-download needs a queued image; everything else a staged one."""
    method = body.get('method') if isinstance(body, dict) else None
    return isinstance(method, dict) and method.get('name') == 'web-download'


def _import_decision(body, store, base, catalog, bases):
    """The filter's decision for this import, or None when the body is not
    an object with a list of stores (the filter answers 400 then).
    """
    if not isinstance(body, dict):
        return None
    stores = body.get('stores')
    if 'stores' in body and not isinstance(stores, list):
        return None
    method = body.get('method')
    name = method.get('name') if isinstance(method, dict) else None
    if name == 'copy-image' or stores == []:
        base = None
    return placement.decide_import(
        _seen(store), stores, body.get('all_stores') is True, _seen(base),
        catalog, _base_info(base, bases))


def _glance_fails_on(body):
    """True when the filter answers 400 for the body's types.

    Glance 33 itself answers most of these with a 500 (a list as the body,
    ``"method"`` that is not an object, ``"stores": null``).
    """
    if not isinstance(body, dict):
        return True
    if 'stores' in body and not isinstance(body['stores'], list):
        return True
    if 'method' not in body:
        return False
    method = body['method']
    return not isinstance(method, dict) or (
        'name' in method and not isinstance(method['name'], str))


def _as_sent(body, headers, decision):
    """The body and headers the filter hands to Glance when it passes on
    (the stores as the rules read them: stripped, an empty header absent).
    """
    headers = dict(headers)
    if 'stores' not in body and body.get('all_stores') is not True:
        raw = headers.pop(placement.STORE_HEADER, None)
        named = placement.normalize_header(_seen(raw))
        if named is not None:
            headers[placement.STORE_HEADER] = named.encode('latin-1')
    elif decision.rule is placement.Rule.EXPLICIT_STORE and body.get(
            'stores'):
        body = dict(body, stores=[s.strip() for s in body['stores']])
    return body, headers


def _prepare(client, staged):
    image = client.create(name='cms-hostile-import')
    if staged:
        assert client.stage(image.id, b'x' * 4096).status_code == 204
    return image.id


@SETTINGS
@given(body=import_bodies,
       store=st.one_of(st.none(), st.sampled_from(STORE_NAMES).map(_latin1)),
       base=st.one_of(st.none(), st.integers(0, len(BASES) - 1)))
# Types Glance answers with a 500: the filter answers 400 naming the field.
@example(body={'method': 'glance-direct'}, store=None, base=None)
@example(body={'method': ['glance-direct']}, store=None, base=0)
@example(body={'method': None}, store=None, base=None)
@example(body={'method': {'name': 5}}, store=None, base=None)
@example(body=['glance-direct'], store=None, base=0)
@example(body={'method': {'name': 'glance-direct'}, 'stores': None},
         store=None, base=None)
# Store names sent as the rules read them; an explicit empty list is not
# co-located.
@example(body={'method': {'name': 'glance-direct'}, 'stores': [' beta ']},
         store=None, base=None)
@example(body={'method': {'name': 'glance-direct'}}, store=b'\xa0gamma',
         base=None)
@example(body={'method': {'name': 'glance-direct'}, 'stores': []},
         store=None, base=0)
# Co-location decided by the filter, with fields Glance may refuse.
@example(body={'method': {'name': 'glance-direct'}, 'all_stores': 'yes'},
         store=None, base=0)
@example(body={'method': {'name': 'web-download', 'uri': URI},
               'stores': None}, store=None, base=1)
def test_hostile_import_bodies(stack_env, demo, plain, catalog, bases, body,
                               store, base):
    staged = not _wants_queued(body)
    body = json.loads(json.dumps(body).replace(
        json.dumps(URI), json.dumps(stack_env.web.raw_image_url)))
    if base is not None:
        base = bases.ids[base].encode()
    decision = _import_decision(body, store, base, catalog, bases)
    token = demo.session.get_token()
    headers = _placement_headers(store, base)
    raw = json.dumps(body).encode()
    mine, theirs = _prepare(demo, staged), _prepare(demo, staged)
    sent_body, sent_headers = body, headers
    if decision is not None and not decision.rejected:
        sent_body, sent_headers = _as_sent(body, headers, decision)
    try:
        before = demo.get(mine)['status']
        status, _, text = _request(
            stack_env.glance.endpoint, token, 'POST',
            '/v2/images/%s/import' % mine, headers, raw,
            content_type='application/json')
        expected, _, plain_text = _request(
            plain, token, 'POST', '/v2/images/%s/import' % theirs,
            sent_headers, json.dumps(sent_body).encode(),
            content_type='application/json')
        note = ('body %s headers %s: %d %s; without the filter: %d %s'
                % (raw[:300], headers, status, text[:300], expected,
                   plain_text[:300]))
        event('import: filter %d, plain %d' % (status, expected))
        assert status != NO_ANSWER, note
        if (decision is not None and decision.rejected) or _glance_fails_on(
                body):
            assert status == 400, note
            assert demo.get(mine)['status'] == before, note
            assert probes.leftovers(stack_env, mine, reserved=False) == {}
        elif expected >= 500:
            # Glance itself fails on this body in a way the filter leaves
            # to it. The filter must still answer; a co-location it decided
            # may even succeed (it writes "stores" itself).
            event('upstream glance-api 5xx on %s' % type(body).__name__)
        else:
            assert status < 500, note
            assert status // 100 == expected // 100, note
    finally:
        # Let accepted imports get going before the images go away.
        time.sleep(0.2)
        _delete(demo, mine, theirs)


# -- regression cases --------------------------------------------------------

def test_a_chunked_import_body_is_checked(stack_env, demo):
    # Without a Content-Length the filter once read the body as empty while
    # Glance read it: a reserved store in "stores" went through.
    image = _prepare(demo, staged=True)
    try:
        body = {'method': {'name': 'glance-direct'},
                'stores': ['os_glance_staging_store']}
        status, _, text = _request(
            stack_env.glance.endpoint, demo.session.get_token(), 'POST',
            '/v2/images/%s/import' % image, {}, json.dumps(body).encode(),
            chunked=True, content_type='application/json')
        assert status == 400, text
        assert "Store 'os_glance_staging_store'" in text, text
        assert demo.get(image)['status'] == 'uploading'
    finally:
        _delete(demo, image)


def test_a_chunked_colocated_import_keeps_its_method(stack_env, demo, bases):
    image = _prepare(demo, staged=True)
    try:
        status, headers, text = _request(
            stack_env.glance.endpoint, demo.session.get_token(), 'POST',
            '/v2/images/%s/import' % image,
            {placement.BASE_IMAGE_HEADER: bases.ids[1].encode()},
            json.dumps({'method': {'name': 'glance-direct'}}).encode(),
            chunked=True, content_type='application/json')
        assert status == 202, text
        assert headers[middleware.RULE_HEADER.lower()] == 'colocate'
        got = demo.wait(image, stores=2)
        assert cloud.stores_of(got) == ['beta', 'gamma']
    finally:
        _delete(demo, image)


@pytest.mark.parametrize('body,field', [
    ({'method': 'glance-direct'}, "'method' field"),
    ({'method': None}, "'method' field"),
    ({'method': {'name': 5}}, "'name' field"),
    (['glance-direct'], 'body must be a JSON object'),
    ({'method': {'name': 'glance-direct'}, 'stores': None},
     "'stores' field")])
def test_import_bodies_glance_fails_on_get_a_400(stack_env, demo, body,
                                                 field):
    image = _prepare(demo, staged=True)
    try:
        status, _, text = _request(
            stack_env.glance.endpoint, demo.session.get_token(), 'POST',
            '/v2/images/%s/import' % image, {}, json.dumps(body).encode(),
            content_type='application/json')
        assert status == 400, text
        assert field in text, text
        assert demo.get(image)['status'] == 'uploading'
    finally:
        _delete(demo, image)


def test_copies_take_glances_image_id_whatever_the_path_says(stack_env,
                                                             demo, bases):
    # MySQL finds the image by its id in upper case; Glance writes its data
    # under the id it stored, and so must the copies.
    image = demo.create(name='cms-hostile-case')
    try:
        data = b'c' * 5000
        status, headers, text = _request(
            stack_env.glance.endpoint, demo.session.get_token(), 'PUT',
            '/v2/images/%s/file' % image.id.upper(),
            {placement.BASE_IMAGE_HEADER: bases.ids[1].encode()}, data)
        assert status == 204, text
        assert headers[middleware.WRITTEN_HEADER.lower()] == 'beta,gamma'
        md5 = hashlib.md5(data).hexdigest()
        assert probes.store_md5s(stack_env, image.id) == {'beta': md5,
                                                          'gamma': md5}
        assert probes.leftovers(stack_env, image.id.upper()) == {}
        got = demo.get(image.id)
        assert cloud.stores_of(got) == ['beta', 'gamma']
    finally:
        _delete(demo, image.id)


#: webob's plain-text error page, as Glance renders its own errors.
PLAIN_ERROR = re.compile(r'400 Bad Request\n\n(?P<message>.+)\n\n   $',
                         re.DOTALL)


@pytest.mark.parametrize('accept', [None, '*/*', 'text/plain',
                                    'application/json'])
def test_a_refused_store_reads_like_glances_own_errors(stack_env, demo,
                                                       plain, accept):
    # Glance answers its own 400 (a store it does not have) in the shape
    # webob gives it: plain text, or JSON when asked. The filter's refusal
    # has that shape too, and never HTML (whose &#x27; the CLIs print).
    token = demo.session.get_token()
    headers = {} if accept is None else {'Accept': accept.encode()}
    mine, theirs = demo.create(), demo.create()
    try:
        status, resp_headers, text = _request(
            stack_env.glance.endpoint, token, 'PUT',
            '/v2/images/%s/file' % mine.id,
            dict(headers, **{placement.STORE_HEADER: b'os_glance_x'}), b'a')
        ask = {'Accept': b'application/json' if accept == 'application/json'
               else b'text/plain'}
        expected, glance_headers, glance_text = _request(
            plain, token, 'PUT', '/v2/images/%s/file' % theirs.id,
            dict(ask, **{placement.STORE_HEADER: b'nosuch'}), b'a')
        assert status == expected == 400
        assert resp_headers['content-type'] == glance_headers['content-type']
        if accept == 'application/json':
            mine_json, glance_json = json.loads(text), json.loads(glance_text)
            assert sorted(mine_json) == sorted(glance_json)
            assert mine_json['code'] == glance_json['code']
            assert mine_json['message'].startswith("Store 'os_glance_x' ")
        else:
            assert PLAIN_ERROR.match(glance_text), glance_text
            match = PLAIN_ERROR.match(text)
            assert match, text
            assert match.group('message').startswith(
                "Store 'os_glance_x' is reserved")
        with pytest.raises(glance_exc.HTTPBadRequest) as caught:
            demo.glance.images.upload(mine.id, io.BytesIO(b'a'),
                                      backend='os_glance_x')
        assert "Store 'os_glance_x' is reserved" in str(caught.value)
        assert '&#' not in str(caught.value)
    finally:
        _delete(demo, mine.id, theirs.id)
