#!/usr/bin/python3
"""Compares herald's request parsing with llhttp's over one corpus (the differential check).

Runs both sides on the corpus (tools/parse_dump for herald, tests/diff/diff.mjs for Node's
llhttp in strict mode) and reports every disagreement, one per (input, kind):
  herald_rejects  herald refuses a message that llhttp accepts (herald is stricter)
  llhttp_rejects  llhttp refuses a message that herald accepts
  outcome         neither refuses, but they end differently (complete / incomplete / upgrade /
                  closed) or parse a different number of messages
  field:<name>    both parse message N, with a different method, url, version, headers, body,
                  keep_alive or upgrade
Both refusing is an agreement whatever the error codes (herald's HttpError names and llhttp's
HPE_* codes do not map one to one). "closed" and "complete" are the same end when the last
message does not keep the connection alive: neither side parses anything after it.

Usage: compare.py [--herald BIN] [--corpus FILE] [--json]
  Builds the corpus (corpus.py) unless --corpus is given, prints a summary and every
  disagreement (or all results as JSON with --json). Used by tests/integration/test_differential.py.
"""
import argparse
import collections
import fnmatch
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, '..', '..'))
FIELDS = ('method', 'url', 'version', 'headers', 'body', 'keep_alive', 'upgrade')

sys.path.insert(0, HERE)
import corpus as corpus_builder  # noqa: E402


def write_corpus(path):
    with open(path, 'w', encoding='ascii') as f:
        return corpus_builder.write(f)


def _run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
    results = {}
    for line in out.decode('utf-8').split('\n'):  # not splitlines: U+0085 is data
        if line.strip():
            o = json.loads(line)
            results[o['id']] = o
    return results


def run_herald(binary, corpus):
    return _run([binary, corpus])


def run_llhttp(corpus, node='node'):
    return _run([node, os.path.join(HERE, 'diff.mjs'), corpus])


def _end(r):
    """The outcome, with 'complete' after a non-persistent last message counted as 'closed'."""
    o = r['outcome']
    if o == 'complete' and r['messages'] and not r['messages'][-1]['keep_alive']:
        return 'closed'
    return o


def _summary(r):
    if r['outcome'] == 'error':
        return 'error %s@%s after %d msg' % (r['error'], r['offset'], len(r['messages']))
    return '%s, %d msg' % (_end(r), len(r['messages']))


def _short(v, n=60):
    s = json.dumps(v, ensure_ascii=True)
    return s if len(s) <= n else s[:n] + '...'


def compare_one(h, ll):
    """Disagreements between herald's result h and llhttp's ll for one input."""
    vid = h['id']
    out = []

    def add(kind, detail):
        out.append({'id': vid, 'kind': kind, 'detail': detail,
                    'herald': h.get('error') or _end(h), 'llhttp': ll.get('error') or _end(ll),
                    'herald_summary': _summary(h), 'llhttp_summary': _summary(ll)})

    hm, lm = h['messages'], ll['messages']
    for i in range(min(len(hm), len(lm))):
        for f in FIELDS:
            if hm[i][f] != lm[i][f]:
                add('field:' + f, 'message %d: herald %s, llhttp %s'
                    % (i, _short(hm[i][f]), _short(lm[i][f])))
    he, le = _end(h), _end(ll)
    if len(hm) == len(lm) and he == le:
        return out
    detail = 'herald: %s; llhttp: %s' % (_summary(h), _summary(ll))
    if len(hm) <= len(lm) and he == 'error':
        add('herald_rejects', detail)
    elif len(lm) <= len(hm) and le == 'error':
        add('llhttp_rejects', detail)
    else:
        add('outcome', detail)
    return out


def compare(herald, llhttp):
    """All disagreements, in corpus order of herald's results."""
    missing = set(herald) ^ set(llhttp)
    assert not missing, 'ids on one side only: %s' % sorted(missing)[:5]
    out = []
    for vid in herald:
        out.extend(compare_one(herald[vid], llhttp[vid]))
    return out


def explain(disagreements, table):
    """Matches each disagreement to the first table row that covers it.

    A row is a dict with 'ids' (a glob or a list of globs over corpus ids), 'kind' (a glob over
    the disagreement kind) and optionally 'herald' / 'llhttp' (globs over that side's error code
    or outcome). Returns (unexplained disagreements, {row index: matched count})."""
    used = collections.Counter()
    unexplained = []
    for d in disagreements:
        for k, row in enumerate(table):
            ids = row['ids'] if isinstance(row['ids'], (list, tuple)) else [row['ids']]
            if not any(fnmatch.fnmatchcase(d['id'], p) for p in ids):
                continue
            if not fnmatch.fnmatchcase(d['kind'], row['kind']):
                continue
            if 'herald' in row and not fnmatch.fnmatchcase(str(d['herald']), row['herald']):
                continue
            if 'llhttp' in row and not fnmatch.fnmatchcase(str(d['llhttp']), row['llhttp']):
                continue
            used[k] += 1
            break
        else:
            unexplained.append(d)
    return unexplained, used


def run(binary, corpus=None):
    """(herald results, llhttp results, disagreements); builds the corpus if not given."""
    with tempfile.TemporaryDirectory() as tmp:
        if corpus is None:
            corpus = os.path.join(tmp, 'corpus.jsonl')
            write_corpus(corpus)
        herald = run_herald(binary, corpus)
        llhttp = run_llhttp(corpus)
    return herald, llhttp, compare(herald, llhttp)


def report(herald, disagreements):
    kinds = collections.Counter(d['kind'] for d in disagreements)
    ids = {d['id'] for d in disagreements}
    lines = ['%d inputs: %d agree, %d disagree' % (len(herald), len(herald) - len(ids), len(ids))]
    lines += ['  %-16s %d' % (k, n) for k, n in sorted(kinds.items())]
    for d in disagreements:
        lines.append('%s [%s] %s' % (d['id'], d['kind'], d['detail']))
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--herald', default=os.path.join(TOP, 'build', 'tools', 'parse_dump'))
    ap.add_argument('--corpus')
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args()
    herald, llhttp, dis = run(args.herald, args.corpus)
    if args.json:
        json.dump({'herald': herald, 'llhttp': llhttp, 'disagreements': dis}, sys.stdout)
    else:
        print(report(herald, dis))


if __name__ == '__main__':
    main()
