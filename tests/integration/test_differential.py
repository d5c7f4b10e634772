"""Differential check of herald's HTTP/1.1 request parsing against Node's llhttp.

The corpus (tests/diff/corpus.py: every vector of tests/data/vectors plus generated valid,
invalid, limit and incomplete requests) goes through herald's parser (build/tools/parse_dump:
RequestParser, ChunkedDecoder and the target check HttpSession applies, with the default limits)
and through llhttp in strict mode (tests/diff/diff.mjs, Node 20's own llhttp). Every
disagreement in accept/reject, in how the bytes end, or in a parsed field (method, url,
version, headers, body, keep_alive, upgrade) must be listed in DIFFERENCES below, with the side
that differs and the RFC clause; a listed row that no longer matches anything fails too.
docs/http-differences.md is the readable form of the table (kept in step by a test).

The parser does not depend on the reactor backend, so the kqueue run of the suite skips it.
"""
import collections
import fcntl
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'diff'))
import compare  # noqa: E402
import corpus  # noqa: E402
import test_vectors  # noqa: E402  (its STRICTER list is cross-checked below)

PARSE_DUMP = os.path.join(TOP, 'build', 'tools', 'parse_dump')
DOC = os.path.join(TOP, 'docs', 'http-differences.md')

pytestmark = pytest.mark.skipif(os.environ.get('HERALD_BACKEND') == 'kqueue',
                                reason='pure parser: run once, with the default backend')

H, L = 'herald stricter', 'llhttp stricter'

# Every intentional difference. A row matches a disagreement when one of its `ids` globs matches
# the corpus id, `kind` matches the disagreement kind (herald_rejects, llhttp_rejects, outcome,
# field:<name>) and, when given, `herald` / `llhttp` match that side's error code or ending.
# `rule` names the row in docs/http-differences.md.
DIFFERENCES = [
    # --- herald refuses, llhttp accepts -------------------------------------------------------
    dict(rule='missing-host', ids='*', kind='herald_rejects', herald='missing_host', side=H,
         why='HTTP/1.1 request without Host (most llhttp and http-parser vectors omit it)',
         rfc='RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request lacking Host'),
    dict(rule='duplicate-host', ids='gen:invalid/host/duplicate-*', kind='herald_rejects',
         herald='duplicate_host', side=H, why='more than one Host field line',
         rfc='RFC 9112 §3.2: MUST respond 400 to more than one Host field line'),
    dict(rule='invalid-host', ids='gen:invalid/host/*', kind='herald_rejects', herald='bad_header',
         side=H, why='Host value that is not uri-host [":" port] (space, "/", userinfo, a list)',
         rfc='RFC 9112 §3.2 (MUST 400 for an invalid Host value); RFC 3986 §3.2.2'),
    dict(rule='no-version', kind='herald_rejects', herald='bad_target', side=H,
         ids=['llhttp:request/sample.md#10', 'http-parser:20', 'gen:invalid/version/missing'],
         why='request-line without HTTP-version (HTTP/0.9 simple request)',
         rfc='RFC 9112 §3: request-line = method SP request-target SP HTTP-version'),
    dict(rule='not-http', kind='herald_rejects', herald='bad_request', side=H,
         ids=['llhttp:request/method.md#1[234]', 'http-parser:42'],
         why='protocol name other than HTTP (ICE/1.0, RTSP/1.0), which llhttp also parses',
         rfc='RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name = %s"HTTP"'),
    dict(rule='version-505', ids='gen:invalid/version/*', kind='herald_rejects',
         herald='version_not_supported', side=H,
         why='HTTP/0.9 and HTTP/2.0 in an HTTP/1 request-line: herald serves 1.0 and 1.1 only',
         rfc='RFC 9110 §15.6.6 (505); RFC 9112 §2.3'),
    dict(rule='asterisk-form', kind='herald_rejects', herald='bad_target', side=H,
         ids=['llhttp:request/method.md#5', 'http-parser:21', 'gen:invalid/target/asterisk-get'],
         why='asterisk-form "*" with a method other than OPTIONS (M-SEARCH, GET)',
         rfc='RFC 9112 §3.2.4: asterisk-form is only used for a server-wide OPTIONS request'),
    dict(rule='options-asterisk', ids='gen:valid/target/asterisk-options', kind='herald_rejects',
         herald='bad_target', side=H,
         why='OPTIONS * parses, but HttpSession::route() has no server-wide OPTIONS and answers '
             '400 (as nginx does); a known gap, see the report to the lead',
         rfc='RFC 9110 §9.3.7 (OPTIONS * is optional to support); RFC 9112 §3.2.4'),
    dict(rule='connect-form', ids='gen:invalid/target/connect-*', kind='herald_rejects',
         herald='bad_target', side=H, why='CONNECT with a target that is not host:port',
         rfc='RFC 9112 §3.2.3: authority-form = uri-host ":" port, the only form for CONNECT'),
    dict(rule='fragment', kind='herald_rejects', herald='bad_target', side=H,
         ids=['llhttp:request/transfer-encoding.md#2[01]', 'llhttp:request/uri.md#8',
              'http-parser:4', 'http-parser:8', 'gen:invalid/ctl-target/fragment'],
         why='"#fragment" in the request-target',
         rfc='RFC 9112 §3.2: request-target = origin-form / ...; no fragment (RFC 3986 §3.5)'),
    dict(rule='userinfo', kind='herald_rejects', herald='bad_target', side=H,
         ids=['llhttp:request/uri.md#10', 'http-parser:32', 'gen:invalid/target/userinfo'],
         why='userinfo ("user:pass@") in an absolute-form http URI',
         rfc='RFC 9110 §4.2.4: a recipient SHOULD treat userinfo in an http(s) URI as an error'),
    dict(rule='empty-authority', ids='gen:invalid/target/empty-authority', kind='herald_rejects',
         herald='bad_target', side=H, why='"http:///a": absolute-form with an empty host',
         rfc='RFC 9110 §4.2.1: a recipient MUST reject an http URI with an empty host as invalid'),
    dict(rule='scheme', ids='gen:invalid/target/ftp-scheme', kind='herald_rejects',
         herald='bad_target', side=H, why='absolute-form with a scheme other than http/https: '
                                          'herald is an origin server, not a proxy',
         rfc='RFC 9112 §3.2.2 (absolute-form is for proxies); RFC 9110 §7.4 (refuse targets '
             'not served; herald answers 400)'),
    dict(rule='path-normalisation', kind='herald_rejects', herald='bad_target', side=H,
         ids=['gen:invalid/target/pct-%s' % n for n in ('bad', 'truncated', 'nul', 'slash')],
         why='malformed "%" escape, %00, or %2F: refused before routing (the target rules of herald)',
         rfc='RFC 3986 §2.1 (pct-encoded = "%" HEXDIG HEXDIG), §2.2 (%2F is not "/")'),
    dict(rule='dot-segments', kind='herald_rejects', herald='bad_target', side=H,
         ids=['gen:invalid/target/dotdot-above-root', 'gen:invalid/target/pct-dotdot'],
         why='"/../x" or "/%2e%2e/x" climbs above "/": herald refuses instead of clamping to "/"',
         rfc='RFC 3986 §5.2.4 (remove_dot_segments); RFC 9110 §17.3 (path traversal)'),
    dict(rule='single-sp', kind='herald_rejects', side=H,
         ids=['gen:invalid/ctl-target/double-sp', 'gen:invalid/request-line/double-sp-*'],
         why='two SPs between request-line elements (llhttp skips extra spaces)',
         rfc='RFC 9112 §3: elements separated by a single SP; invalid request-line SHOULD get '
             '400, SHOULD NOT be autocorrected'),
    dict(rule='bare-cr-lf-before-request', ids='gen:invalid/bare-*/leading-empty-line',
         kind='herald_rejects', herald='bad_request', side=H,
         why='a lone LF or CR before the request-line (llhttp skips any CR/LF there)',
         rfc='RFC 9112 §2.2: the ignored empty line is CRLF; a bare CR MUST be invalid'),
    dict(rule='te-not-implemented', ids='gen:invalid/te/*', kind='herald_rejects',
         herald='not_implemented', side=H,
         why='a transfer coding other than a single "chunked" (gzip, chunked; an empty value): '
             'llhttp frames by the final chunked and passes gzip on, or ignores an empty value',
         rfc='RFC 9112 §6.1: a server SHOULD answer 501 to a transfer coding it does not '
             'understand'),
    dict(rule='te-http10', ids='gen:invalid/te/http10', kind='herald_rejects',
         herald='bad_request', side=H, why='Transfer-Encoding in an HTTP/1.0 request',
         rfc='RFC 9112 §6.1: treat as faulty framing (MUST), and close'),
    dict(rule='content-length-range', ids='gen:invalid/cl-bad/int64-max-plus-one',
         kind='herald_rejects', herald='bad_content_length', side=H,
         why='Content-Length above 2^63-1 (llhttp takes up to 2^64-1)',
         rfc='RFC 9110 §8.6: recipients MUST anticipate large numerals and prevent overflow'),
    dict(rule='chunk-ext-name', ids='gen:invalid/chunk/ext-empty-name', kind='herald_rejects',
         herald='bad_chunk', side=H, why='chunk extension with an empty name (";=x")',
         rfc='RFC 9112 §7.1.1: chunk-ext-name = token (1*tchar)'),
    dict(rule='chunk-ext-limit', ids='gen:invalid/chunk/ext-line-5000', kind='herald_rejects',
         herald='bad_chunk', side=H, why='chunk-size line over 4096 bytes (max_chunk_line)',
         rfc='RFC 9112 §7.1.1: a server ought to limit chunk extensions and answer 4xx'),
    dict(rule='expect', ids='gen:invalid/expect/*', kind='herald_rejects',
         herald='expectation_failed', side=H,
         why='an expectation other than 100-continue',
         rfc='RFC 9110 §10.1.1: a server MAY answer 417 to an unknown expectation'),
    dict(rule='limit-request-line', ids='gen:limit/request-line-12k', kind='herald_rejects',
         herald='uri_too_long', side=H,
         why='request line over large_header_buffer (8 KiB; Node allows a 16 KiB head)',
         rfc='RFC 9112 §3: 414 for a request-target longer than the server wishes to parse'),
    dict(rule='limit-fields', ids='gen:limit/fields-*', kind='herald_rejects',
         herald='headers_too_large', side=H,
         why='more than 100 field lines (Node limits only the head size)',
         rfc='RFC 6585 §5 (431); RFC 9112 §5 (a server limits field lines)'),
    dict(rule='limit-body', ids='gen:limit/*-over-1m', kind='herald_rejects',
         herald='body_too_large', side=H,
         why='body over client_max_body_size (1 MiB default), from Content-Length or chunk-size',
         rfc='RFC 9110 §15.5.14 (413)'),
    # --- llhttp refuses, herald accepts -------------------------------------------------------
    dict(rule='extension-methods', ids=['gen:ext-method/*', 'llhttp:request/invalid.md#4'],
         kind='llhttp_rejects', side=L,
         why='a method llhttp does not list (FOO, BREW, MKCOLA, lower-case get; ANNOUNCE with '
             'HTTP/1.0): herald takes any token and lets routing answer 405',
         rfc='RFC 9110 §9.1: method = token; the set is extensible and case-sensitive'),
    dict(rule='content-length-ows', ids='gen:valid/body/cl-ows', kind='llhttp_rejects',
         llhttp='HPE_INVALID_CONTENT_LENGTH', side=L,
         why='Content-Length ": \\t 3 \\t": llhttp 9.3.1 refuses SP then HTAB after the digits',
         rfc='RFC 9112 §5.1: field-line = field-name ":" OWS field-value OWS; OWS = *(SP / HTAB)'),
    dict(rule='chunk-ext-bws', ids='gen:valid/chunked/ext-bws', kind='llhttp_rejects',
         llhttp='HPE_INVALID_CHUNK_SIZE', side=L,
         why='"5 ;a = b": whitespace before ";" and around "=" in a chunk extension',
         rfc='RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS '
             'chunk-ext-val ] ); RFC 9110 §5.6.3: BWS MUST be parsed and removed'),
    # --- both accept, they disagree on the connection ------------------------------------------
    dict(rule='connection-close-htab', kind='field:keep_alive', side=L,
         ids=['llhttp:request/connection.md#10', 'gen:valid/header/connection-close-htab'],
         why='"Connection: close<HTAB>": llhttp 9.3.1 (Node 20) misses the close option and keeps '
             'the connection (the vector itself, from a newer llhttp, expects close, as herald)',
         rfc='RFC 9110 §5.6.1 (OWS around list elements), §7.6.1; RFC 9112 §9.6'),
    dict(rule='connection-close-htab', kind='outcome', side=L,
         ids=['llhttp:request/connection.md#10', 'gen:valid/header/connection-close-htab'],
         why='(consequence of the row above: llhttp reads on after the closing message)',
         rfc='RFC 9112 §9.6: no request after one with "close" is processed'),
    dict(rule='http10-keep-alive-close', kind='field:keep_alive', side=L,
         ids='gen:valid/http10/keep-alive-then-close',
         why='HTTP/1.0 with "Connection: keep-alive, close": llhttp keeps the connection',
         rfc='RFC 9112 §9.3: the close option ends persistence whatever the version'),
    dict(rule='http10-keep-alive-close', kind='outcome', side=L,
         ids='gen:valid/http10/keep-alive-then-close',
         why='(consequence of the row above: llhttp parses the next request)',
         rfc='RFC 9112 §9.6'),
]


@pytest.fixture(scope='module')
def results():
    # pytest-xdist may run this module's tests on two workers: one make at a time.
    os.makedirs(os.path.dirname(PARSE_DUMP), exist_ok=True)
    with open(PARSE_DUMP + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(['make', '-s', 'build/tools/parse_dump'], cwd=TOP, check=True,
                       timeout=300)
    return compare.run(PARSE_DUMP)


def test_corpus_has_every_vector_and_each_rule():
    ids = [c[0] for c in corpus.build()]
    assert len(ids) == len(set(ids))
    counts = collections.Counter(i.split(':')[0] for i in ids)
    assert counts['llhttp'] == 152 and counts['http-parser'] == 110, counts
    rules = {i.split('/')[1] for i in ids if i.startswith('gen:invalid/')}
    # herald's strict-parsing rules, one group each
    assert {'cl-te', 'cl-differ', 'cl-bad', 'te', 'chunk', 'space-before-colon', 'obs-fold',
            'ctl-target', 'ctl-value', 'host', 'version', 'bare-lf', 'bare-cr'} <= rules, rules


def test_whole_and_per_byte_parsing_agree(results):
    herald, _, _ = results
    bad = {k: v['split_mismatch'] for k, v in herald.items() if 'split_mismatch' in v}
    assert not bad, bad


def test_every_disagreement_is_listed(results):
    herald, _, disagreements = results
    unexplained, _ = compare.explain(disagreements, DIFFERENCES)
    assert not unexplained, '%d unexplained disagreement(s):\n%s' % (
        len(unexplained), '\n'.join('%s [%s] %s' % (d['id'], d['kind'], d['detail'])
                                    for d in unexplained))


def test_every_listed_difference_still_occurs(results):
    _, _, disagreements = results
    _, used = compare.explain(disagreements, DIFFERENCES)
    stale = [row['rule'] + ' ' + row['kind'] for k, row in enumerate(DIFFERENCES) if not used[k]]
    assert not stale, 'rows that match nothing (remove them): %s' % stale


def test_agrees_with_the_vector_allow_list(results):
    """test_vectors.STRICTER (replayed against the server) and this check must tell the same
    story: a vector herald refuses and llhttp accepts is listed there, and every vector listed
    there is refused by herald here (llhttp refusing it too is fine)."""
    herald, llhttp, disagreements = results
    vectors = {v[0] for v in test_vectors.load_vectors()}
    stricter = {d['id'] for d in disagreements
                if d['kind'] == 'herald_rejects' and d['id'] in vectors}
    assert stricter <= set(test_vectors.STRICTER), sorted(stricter - set(test_vectors.STRICTER))
    not_refused = [v for v in test_vectors.STRICTER if herald[v]['outcome'] != 'error']
    assert not not_refused, not_refused
    both = set(test_vectors.STRICTER) - stricter
    assert all(llhttp[v]['outcome'] == 'error' for v in both), sorted(both)


def test_differences_are_documented():
    with open(DOC, encoding='utf-8') as f:
        doc = f.read()
    missing = sorted({row['rule'] for row in DIFFERENCES if '`%s`' % row['rule'] not in doc})
    assert not missing, 'rules missing from docs/http-differences.md: %s' % missing
