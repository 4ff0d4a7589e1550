// Peer benchmark: client-credentials grants per second of panva's oidc-provider (npm),
// to set beside medvault's `cargo bench -p medvault-server --bench oauth`.
//
// Same shape as medvault's bench: GRANTS (20,000) client-credentials grants, CONCURRENCY (32)
// in flight, client_secret_basic, ES256-signed JWT access tokens, keep-alive HTTP on 127.0.0.1,
// latency of each request timed, p50/p99 taken the same way (sorted[floor(n*q)]), no warm-up.
// Differences to keep in mind: the request also names `scope=system/Observation.rs` (medvault
// puts the client's registered scope in the token; oidc-provider only puts what was asked for),
// and oidc-provider does not store JWT access tokens, whereas medvault audits every grant.
//
// The provider runs in this (main) thread; the load generator runs in a worker thread, so each
// has a core of its own on a 2-core machine. Exactly one JSON line goes to stdout:
//   {"peer":"oidc-provider","version":...,"grants":N,"secs":S,"grants_per_sec":R,
//    "p50_ms":A,"p99_ms":B,"errors":E}
// everything else to stderr. Exits non-zero on errors or when the 120 s limit cut the run short.
// Env: GRANTS, CONCURRENCY, VERBOSE=1 (show oidc-provider's own notices on stderr).
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const TIME_LIMIT_MS = 120_000;

if (isMainThread) {
  await main();
} else {
  parentPort.postMessage(await load(workerData));
}

async function main() {
  const grants = positiveInt('GRANTS', 20_000);
  const concurrency = positiveInt('CONCURRENCY', 32);

  // stdout carries the result line only: oidc-provider prints NOTICEs with console.info.
  const toStderr = (...args) => process.stderr.write(`${args.join(' ')}\n`);
  console.log = console.info = toStderr;
  if (!process.env.VERBOSE) {
    // Drop its development-mode chatter (in-memory adapter, default-function notices); keep
    // its runtime warning (9.x asks for Node 22 LTS or later, but runs on 20).
    const quiet = (fn) => (...args) => {
      const line = String(args[0]);
      if (!line.startsWith('oidc-provider ') || line.includes('Unsupported runtime')) fn(...args);
    };
    console.log = console.info = quiet(toStderr);
    console.warn = quiet(console.warn);
  }

  const { Provider, errors } = await import('oidc-provider');
  const version = JSON.parse(
    readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url)),
  ).version;

  // Listen first to learn the port, then build the provider with that issuer.
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

  const SCOPE = 'system/Observation.rs';
  const RESOURCE = 'urn:medvault:fhir';
  const clientId = 'bench';
  const clientSecret = crypto.randomBytes(32).toString('base64url');

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SCOPE,
      id_token_signed_response_alg: 'ES256', // the only key is ES256 (default would be RS256)
    }],
    jwks: { keys: [jwk] },
    scopes: [SCOPE],
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: RESOURCE,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  });
  let serverErrors = 0;
  provider.on('server_error', (_ctx, err) => {
    if (serverErrors++ === 0) console.error('server_error:', err);
  });
  server.on('request', provider.callback());

  const tokenUrl = `${issuer}/token`;
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE }).toString();

  // Check that a grant really yields a verifiable ES256 JWT, and that a wrong secret is refused,
  // before measuring anything.
  const check = await fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const checked = await check.json();
  const parts = String(checked.access_token).split('.');
  const header = parts.length === 3 ? JSON.parse(Buffer.from(parts[0], 'base64url')) : {};
  if (check.status !== 200 || header.alg !== 'ES256') {
    fail(`token response is not an ES256 JWT (HTTP ${check.status}): ${JSON.stringify(checked)}`);
  }
  const signed = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`),
    { key: privateKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
  if (!signed) fail('the access token\'s ES256 signature does not verify');
  const wrong = await fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:wrong`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (wrong.status !== 401) fail(`a wrong client secret got HTTP ${wrong.status}, not 401`);
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  console.error(`oidc-provider ${version} at ${issuer}; token header ${JSON.stringify(header)}, `
    + `scope "${claims.scope}", aud ${claims.aud}`);

  // Hard stop, in case the worker hangs: the worker itself stops issuing at TIME_LIMIT_MS.
  const watchdog = setTimeout(() => fail('hard time limit exceeded'), TIME_LIMIT_MS + 10_000);
  console.error(`load: ${grants} grants, concurrency ${concurrency} (worker thread)`);
  const result = await new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { port, authorization, body, grants, concurrency },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`load worker exited with ${code}`)));
  }).catch((err) => fail(`load worker failed: ${err.stack ?? err}`));
  clearTimeout(watchdog);

  const errorCount = result.errors + serverErrors;
  process.stdout.write(`${JSON.stringify({
    peer: 'oidc-provider',
    version,
    grants: result.ok,
    secs: round(result.secs, 3),
    grants_per_sec: round(result.ok / result.secs, 1),
    p50_ms: round(result.p50, 3),
    p99_ms: round(result.p99, 3),
    errors: errorCount,
  })}\n`);
  if (result.timedOut) console.error(`time limit of ${TIME_LIMIT_MS / 1000} s reached after ${result.ok} grants`);
  if (result.firstError) console.error(`first error: ${result.firstError}`);
  process.exit(errorCount > 0 || result.timedOut ? 1 : 0);
}

// Worker thread: bounded, keep-alive load with `concurrency` loops sharing one counter.
async function load({ port, authorization, body, grants, concurrency }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const headers = {
    authorization,
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': Buffer.byteLength(body),
  };
  const post = () => new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/token', method: 'POST', agent, headers }, (res) => {
      let length = 0;
      res.on('data', (chunk) => { length += chunk.length; });
      res.on('end', () => resolve(res.statusCode === 200 && length > 0 ? null : `HTTP ${res.statusCode}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });

  const latencies = new Float64Array(grants);
  let issued = 0;
  let ok = 0;
  let errors = 0;
  let firstError;
  let timedOut = false;
  const started = performance.now();
  const deadline = started + TIME_LIMIT_MS;
  const loop = async () => {
    while (issued < grants) {
      if (performance.now() >= deadline) { timedOut = true; return; }
      issued += 1;
      const sent = performance.now();
      const error = await post();
      if (error) {
        errors += 1;
        firstError ??= error;
      } else {
        latencies[ok++] = performance.now() - sent;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const secs = (performance.now() - started) / 1000;
  agent.destroy();

  const sorted = latencies.subarray(0, ok).sort();
  const at = (q) => (ok ? sorted[Math.min(Math.floor(ok * q), ok - 1)] : NaN);
  return { ok, errors, firstError, timedOut, secs, p50: at(0.5), p99: at(0.99) };
}

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer, got ${raw}`);
  return value;
}

function round(x, digits) {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}
