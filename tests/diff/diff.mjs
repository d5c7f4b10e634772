// The llhttp side of the HTTP parser differential check: parses every input of a
// corpus (JSON lines {"id", "raw_b64"}, as tests/diff/corpus.py writes) with the llhttp that
// Node.js itself uses (process.binding('http_parser'), llhttp 9 in Node 20), in strict mode
// (kLenientNone: no lenient flag), and prints one JSON line per input in the shape of
// tools/parse_dump.cpp:
//   {"id", "outcome", "error", "status", "offset", "trailing", "messages": [{"method", "url",
//    "version", "headers": [[name, value]...], "body", "keep_alive", "upgrade"}], "trailers"}
//   outcome: complete | incomplete | error (error = llhttp's HPE_* code, offset = bytesParsed)
//            | closed (HPE_CLOSED_CONNECTION: bytes after a message that ends the connection)
//            | upgrade (the parser stopped after an upgrade or CONNECT message)
// Strings are latin-1 byte strings, like parse_dump's. "trailers" (chunked trailer fields, per
// message) is informational: herald validates trailers and discards them (RFC 9112 §7.1.2).
// Usage: node diff.mjs CORPUS.jsonl|DIR   (no npm dependency: the parser is Node's own)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { argv, stdout } from 'node:process';

// process.binding is deprecated (DEP0111), but it is the only way to reach Node's own llhttp
// without copying it; keep stderr clean of the warning.
process.noDeprecation = true;
// allMethods is indexed by llhttp's method enum (methods leaves out RTSP ones and QUERY).
const { HTTPParser, allMethods: methods } = process.binding('http_parser');

// Node's default --max-http-header-size; counts the url and field names and values.
const MAX_HEADER_SIZE = 16384;

function parse(raw) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
    const messages = [];
    const trailers = [];
    let pending = []; // field lines delivered early by kOnHeaders (more than 32, or trailers)
    let url = '';
    let current = null; // the message whose head is done and whose body is being read
    let open = false; // a message has begun and not completed
    parser[HTTPParser.kOnMessageBegin] = () => {
        open = true;
        pending = [];
        url = '';
    };
    parser[HTTPParser.kOnHeaders] = (headers, u) => {
        pending.push(...headers);
        url += u;
    };
    parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, u, _status,
                                             _statusMessage, upgrade, keepAlive) => {
        const flat = pending.concat(headers || []);
        const pairs = [];
        for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
        current = {
            method: methods[method], url: url + (u || ''), version: `${major}.${minor}`,
            headers: pairs, body: '', keep_alive: keepAlive, upgrade,
        };
        pending = [];
        return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk) => { current.body += chunk.toString('latin1'); };
    parser[HTTPParser.kOnMessageComplete] = () => {
        const t = [];
        for (let i = 0; i + 1 < pending.length; i += 2) t.push([pending[i], pending[i + 1]]);
        trailers.push(t);
        pending = [];
        messages.push(current);
        current = null;
        open = false;
    };
    const ret = parser.execute(raw);
    const out = { outcome: 'complete', error: null, status: null, offset: null, trailing: 0,
                  messages, trailers };
    if (ret instanceof Error) {
        if (ret.code === 'HPE_CLOSED_CONNECTION') {
            out.outcome = 'closed';
            out.trailing = raw.length - ret.bytesParsed;
        } else {
            out.outcome = 'error';
            out.error = ret.code;
            out.status = 400; // what Node's http server answers to a parse error
            out.offset = ret.bytesParsed;
        }
    } else if (messages.length && messages[messages.length - 1].upgrade && !open) {
        out.outcome = 'upgrade';
        out.trailing = raw.length - ret;
    } else if (open) {
        out.outcome = 'incomplete';
    }
    parser.close();
    return out;
}

// [{id, raw}] from a JSON-lines corpus, or from a directory of raw files (id = file name),
// as tools/parse_dump reads them.
function readCorpus(path) {
    if (statSync(path).isDirectory()) {
        return readdirSync(path).sort()
            .filter((name) => statSync(join(path, name)).isFile())
            .map((name) => ({ id: name, raw: readFileSync(join(path, name)) }));
    }
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((line) => {
        const { id, raw_b64: b64 } = JSON.parse(line);
        return { id, raw: Buffer.from(b64, 'base64') };
    });
}

function main() {
    const path = argv[2];
    if (!path) {
        console.error('usage: node diff.mjs CORPUS.jsonl|DIR');
        process.exit(2);
    }
    const out = readCorpus(path).map(({ id, raw }) => JSON.stringify({ id, ...parse(raw) }));
    stdout.write(out.join('\n') + '\n');
}

main();
