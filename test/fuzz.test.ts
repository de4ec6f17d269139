// Hostile input against PAR, token, introspection, registration and the admin API: a table of
// known-bad shapes (oversized and deep bodies, wrong content types, invalid UTF-8, huge state and
// nonce, SQL metacharacters, NUL bytes, duplicate parameters, oversized request objects) and
// fast-check's random ones. Every answer is a 4xx in the endpoint's own format (JSON with an
// `error` code, no stack trace), nothing is written, nothing is logged as a server error, and the
// process keeps serving.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { asFetchResponse } from './support/raw-http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';

type Endpoint = 'par' | 'token' | 'introspection' | 'registration' | 'admin';
type Body = string | Uint8Array | ReadableStream<Uint8Array>;

interface HostileRequest {
  name: string;
  endpoint: Endpoint;
  method?: string;
  /** Defaults to the endpoint's path. */
  path?: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Send the endpoint's credentials (client assertion, RS secret, initial access token, admin key). */
  authenticated?: boolean;
  /**
   * RFC 7662 section 2.2: introspecting something that is not an active token is answered 200
   * `{"active": false}` — the one non-4xx answer a hostile token value may get.
   */
  inactive?: boolean;
}

const PATHS: Record<Endpoint, string> = {
  par: '/request',
  token: '/token',
  introspection: '/token/introspection',
  registration: '/reg',
  admin: '/admin/clients',
};
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const SQL = "' OR '1'='1'; DROP TABLE oidc_payloads; --";

const form = (params: Record<string, string> | [string, string][]) => new URLSearchParams(params).toString();
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const deepJson = (depth: number) => `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`;
/** A body sent chunked (no Content-Length), so only the reader's own cap can stop it. */
const chunked = (size: number): ReadableStream<Uint8Array> => {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const chunk = new TextEncoder().encode('a'.repeat(Math.min(8192, size - sent)));
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
};

/**
 * One request on its own connection (node:http, no keep-alive): how one hostile request ends (a
 * 413 that closes the socket mid-upload) must not decide whether the next one is delivered.
 */
function exchange(url: string, method: string, headers: Record<string, string>, body?: Body): Promise<Response> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { method, headers, agent: false }, (res) => {
      answered = true;
      asFetchResponse(res, method).then(resolve, reject);
    });
    // The server may answer (413) and close while the body is still being sent.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (body instanceof ReadableStream) {
      Readable.fromWeb(body as import('node:stream/web').ReadableStream)
        .on('error', () => {})
        .pipe(req);
    } else {
      req.end(body);
    }
  });
}

describe('hostile input', () => {
  let server: TestServer;
  let tpp: Tpp;
  let rs: ResourceServer;
  let initialAccessToken: string;
  const logLines: string[] = [];

  /** private_key_jwt: a fresh client assertion (each jti is single use). */
  const assertion = () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: tpp.key.kid })
      .setIssuer(tpp.clientId)
      .setSubject(tpp.clientId)
      .setAudience(server.issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(tpp.key.privateKey);

  /** A request object with valid claims but `bytes` of padding, unsigned (refused before any signature check). */
  const bigRequestObject = (bytes: number) => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const claims = {
      iss: tpp.clientId,
      aud: server.issuer,
      client_id: tpp.clientId,
      response_type: 'code',
      exp: now + 60,
      nbf: now,
      padding: 'x'.repeat(bytes),
    };
    return `${b64({ alg: 'ES256', kid: tpp.key.kid })}.${b64(claims)}.${'A'.repeat(86)}`;
  };

  const send = async (request: HostileRequest): Promise<Response> => {
    const headers: Record<string, string> = { ...request.headers };
    let body = request.body;
    if (request.authenticated) {
      if (request.endpoint === 'par' || request.endpoint === 'token') {
        const auth = form({
          client_id: tpp.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await assertion(),
        });
        body = typeof body === 'string' ? `${auth}&${body}` : body instanceof Uint8Array ? bytes(`${auth}&`, [...body]) : body;
      } else if (request.endpoint === 'introspection') {
        headers.authorization = `Basic ${Buffer.from(`${rs.clientId}:${rs.clientSecret}`).toString('base64')}`;
      } else if (request.endpoint === 'registration') {
        headers.authorization = `Bearer ${initialAccessToken}`;
      } else {
        headers.authorization = `Bearer ${server.adminKey}`;
      }
    }
    return exchange(`${server.issuer}${request.path ?? PATHS[request.endpoint]}`, request.method ?? 'POST', headers, body);
  };

  /** Asserts the answer is a 4xx in the endpoint's format; returns the error code. */
  const assertRefused = async (request: HostileRequest, response: Response): Promise<string> => {
    const text = await response.text();
    const label = `${request.endpoint}: ${request.name} -> ${response.status} ${text.slice(0, 200)}`;
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/, label);
    assert.doesNotMatch(text, /\bat .+\.(js|ts):\d+|node_modules|Error: /, `no internals in the body (${label})`);
    const body = JSON.parse(text) as Record<string, unknown>;
    if (request.inactive && response.status === 200) {
      assert.deepEqual(body, { active: false }, label);
      return 'inactive';
    }
    assert.ok(response.status >= 400 && response.status < 500, label);
    assert.equal(typeof body.error, 'string', label);
    if (request.endpoint === 'admin') assert.equal(typeof body.error_description, 'string', label);
    return body.error as string;
  };

  const rowCounts = async () => {
    const knex = server.server.services.db.knex;
    const counts: Record<string, number> = {};
    for (const table of [
      'clients',
      'resource_servers',
      'customers',
      'customer_accounts',
      'consents',
      'admin_keys',
      'portal_sessions',
    ]) {
      counts[table] = Number((await knex(table).count({ n: '*' }).first())?.n);
    }
    // Client assertions leave replay records (ReplayDetection): the one write a refused request may cause.
    const payloads: { model: string; n: number | string }[] = await knex('oidc_payloads')
      .select('model')
      .count({ n: '*' })
      .whereNot('model', 'ReplayDetection')
      .groupBy('model');
    for (const row of payloads) counts[`oidc_payloads:${row.model}`] = Number(row.n);
    return counts;
  };

  before(async () => {
    server = await startTestServer({
      // Rate limits would answer this volume with 429s (a 4xx too, but it would hide which check
      // refused what); they have their own tests.
      env: { LOG_LEVEL: 'warn', RATE_LIMIT_MULTIPLIER: '1000' },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
    const minted = await server.admin('POST', '/admin/initial-access-tokens', {
      ttl: 3600,
      authorization_details_types: ['account_information', 'payment_initiation'],
    });
    initialAccessToken = ((await minted.json()) as { initial_access_token: string }).initial_access_token;
  });
  after(() => server?.close());

  const par = (params: Record<string, string> | [string, string][]) =>
    form([
      ['response_type', 'code'],
      ['redirect_uri', 'https://tpp.example/callback'],
      ['scope', 'openid'],
      ['code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
      ['code_challenge_method', 'S256'],
      ...(Array.isArray(params) ? params : Object.entries(params)),
    ]);

  /** A registration that would succeed (without client_name): the hostile part is what a row adds. */
  const validClient = () =>
    JSON.stringify({
      redirect_uris: ['https://a.example/cb'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [tpp.key.publicJwk] },
    });

  const table = (): HostileRequest[] => [
    // Oversized bodies: declared, and chunked without a length.
    ...(['par', 'token', 'introspection', 'registration', 'admin'] as const).flatMap((endpoint): HostileRequest[] => [
      {
        name: 'a 1 MiB body',
        endpoint,
        headers: endpoint === 'registration' || endpoint === 'admin' ? JSON_TYPE : FORM,
        body: 'a'.repeat(1024 * 1024),
        authenticated: true,
      },
      {
        name: 'a 200 KiB chunked body',
        endpoint,
        headers: endpoint === 'registration' || endpoint === 'admin' ? JSON_TYPE : FORM,
        body: chunked(200 * 1024),
        authenticated: true,
      },
      { name: 'text/plain', endpoint, headers: { 'content-type': 'text/plain' }, body: 'token=x', authenticated: true },
      {
        name: 'application/xml',
        endpoint,
        headers: { 'content-type': 'application/xml' },
        body: '<a>&xxe;</a>',
        authenticated: true,
      },
      {
        name: 'multipart/form-data',
        endpoint,
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--x--',
        authenticated: true,
      },
      { name: 'no body and no credentials', endpoint },
    ]),
    // JSON endpoints: malformed, deep, wrong shape, invalid UTF-8, NUL.
    ...(['registration', 'admin'] as const).flatMap((endpoint): HostileRequest[] => [
      { name: 'JSON cut short', endpoint, headers: JSON_TYPE, body: '{"client_name":', authenticated: true },
      { name: 'JSON nested 5000 deep', endpoint, headers: JSON_TYPE, body: deepJson(5000), authenticated: true },
      {
        name: 'JSON nested 50 deep inside a JWKS',
        endpoint,
        headers: JSON_TYPE,
        body: `{"client_name":"x","redirect_uris":["https://a.example/cb"],"jwks":{"keys":[${deepJson(50)}]}}`,
        authenticated: true,
      },
      { name: 'a JSON array', endpoint, headers: JSON_TYPE, body: '[1,2,3]', authenticated: true },
      { name: 'JSON null', endpoint, headers: JSON_TYPE, body: 'null', authenticated: true },
      { name: 'a form body', endpoint, headers: FORM, body: 'client_name=x', authenticated: true },
      {
        name: 'invalid UTF-8 in a string',
        endpoint,
        headers: JSON_TYPE,
        body: bytes('{"client_name":"', [0xff, 0xfe, 0xc3], `",${validClient().slice(1)}`),
        authenticated: true,
      },
      {
        name: 'a NUL character',
        endpoint,
        headers: JSON_TYPE,
        body: `{"client_name":"a\\u0000b",${validClient().slice(1)}`,
        authenticated: true,
      },
      {
        name: 'a lone UTF-16 surrogate (\\ud800)',
        endpoint,
        headers: JSON_TYPE,
        body: `{"client_name":"a\\ud800b",${validClient().slice(1)}`,
        authenticated: true,
      },
      {
        name: 'an unknown field (mass assignment)',
        endpoint,
        headers: JSON_TYPE,
        body: JSON.stringify({
          client_name: 'x',
          redirect_uris: ['https://a.example/cb'],
          client_id: 'chosen',
          status: 'active',
        }),
        authenticated: true,
      },
      {
        name: 'a JWKS of 10 huge keys',
        endpoint,
        headers: JSON_TYPE,
        body: JSON.stringify({
          client_name: 'x',
          redirect_uris: ['https://a.example/cb'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: Array.from({ length: 10 }, (_, i) => ({ ...tpp.key.publicJwk, kid: `k${i}`, x5c: ['A'.repeat(4000)] })) },
        }),
        authenticated: true,
      },
    ]),
    {
      name: 'registration without its initial access token',
      endpoint: 'registration',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: ['https://a.example/cb'] }),
    },
    // PAR: parameters.
    {
      name: 'state of 5000 characters',
      endpoint: 'par',
      headers: FORM,
      body: par({ state: 's'.repeat(5000) }),
      authenticated: true,
    },
    {
      name: 'state of 60 000 characters',
      endpoint: 'par',
      headers: FORM,
      body: par({ state: 's'.repeat(60_000) }),
      authenticated: true,
    },
    {
      name: 'nonce of 5000 characters',
      endpoint: 'par',
      headers: FORM,
      body: par({ nonce: 'n'.repeat(5000) }),
      authenticated: true,
    },
    { name: 'state with a NUL byte', endpoint: 'par', headers: FORM, body: par({ state: 'a\u0000b' }), authenticated: true },
    ...[
      ['a lone UTF-16 surrogate', '\\ud800'],
      ['a NUL', '\\u0000'],
    ].map(
      ([what, jsonEscape]): HostileRequest => ({
        name: `${what} in the claims parameter`,
        endpoint: 'par',
        headers: FORM,
        body: par({ claims: `{"id_token":{"acr":{"essential":true,"values":["a${jsonEscape}b"]}}}` }),
        authenticated: true,
      }),
    ),
    {
      name: 'a lone UTF-16 surrogate in authorization_details',
      endpoint: 'par',
      headers: FORM,
      body: par({
        authorization_details:
          '[{"type":"payment_initiation","instructedAmount":{"amount":"1.00","currency":"EUR"},"creditorName":"a\\ud800b","creditorAccount":{"iban":"DE89370400440532013000"}}]',
      }),
      authenticated: true,
    },
    {
      name: 'state with invalid UTF-8 (percent-encoded)',
      endpoint: 'par',
      headers: FORM,
      body: `${par({})}&state=%FF%FE`,
      authenticated: true,
    },
    {
      name: 'state with invalid UTF-8 (raw bytes)',
      endpoint: 'par',
      headers: FORM,
      body: bytes(`${par({})}&state=`, [0xff, 0xfe]),
      authenticated: true,
    },
    {
      name: 'state twice',
      endpoint: 'par',
      headers: FORM,
      body: par([
        ['state', 'a'],
        ['state', 'b'],
      ]),
      authenticated: true,
    },
    { name: 'SQL in client_id', endpoint: 'par', headers: FORM, body: par({ client_id: SQL }) },
    { name: 'a NUL in client_id', endpoint: 'par', headers: FORM, body: par({ client_id: 'a\u0000' }) },
    {
      name: 'SQL in redirect_uri',
      endpoint: 'par',
      headers: FORM,
      body: par([['redirect_uri', `https://tpp.example/${SQL}`]]),
      authenticated: true,
    },
    {
      name: 'a request object of 20 KiB',
      endpoint: 'par',
      headers: FORM,
      body: form({ request: bigRequestObject(20 * 1024) }),
      authenticated: true,
    },
    {
      name: 'a request object that is not a JWT',
      endpoint: 'par',
      headers: FORM,
      body: form({ request: `${SQL}.x.y` }),
      authenticated: true,
    },
    {
      name: 'authorization_details nested deep',
      endpoint: 'par',
      headers: FORM,
      body: par({ authorization_details: deepJson(2000) }),
      authenticated: true,
    },
    {
      name: 'a forged client assertion',
      endpoint: 'par',
      headers: FORM,
      body: par({
        client_id: tpp.clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: 'eyJhbGciOiJub25lIn0.e30.',
      }),
    },
    // Token endpoint.
    {
      name: 'SQL in code',
      endpoint: 'token',
      headers: FORM,
      body: form({
        grant_type: 'authorization_code',
        code: SQL,
        code_verifier: 'x'.repeat(43),
        redirect_uri: 'https://tpp.example/callback',
      }),
      authenticated: true,
    },
    {
      name: 'a NUL in code',
      endpoint: 'token',
      headers: FORM,
      body: form({
        grant_type: 'authorization_code',
        code: 'a\u0000b',
        code_verifier: 'x'.repeat(43),
        redirect_uri: 'https://tpp.example/callback',
      }),
      authenticated: true,
    },
    {
      name: 'a NUL in refresh_token',
      endpoint: 'token',
      headers: FORM,
      body: form({ grant_type: 'refresh_token', refresh_token: '\u0000' }),
      authenticated: true,
    },
    {
      name: 'grant_type twice',
      endpoint: 'token',
      headers: FORM,
      body: form([
        ['grant_type', 'client_credentials'],
        ['grant_type', 'password'],
      ]),
      authenticated: true,
    },
    {
      name: 'the password grant',
      endpoint: 'token',
      headers: FORM,
      body: form({ grant_type: 'password', username: 'a', password: 'b' }),
      authenticated: true,
    },
    {
      name: 'invalid UTF-8 in a scope',
      endpoint: 'token',
      headers: FORM,
      body: bytes('grant_type=client_credentials&scope=', [0xc3, 0x28]),
      authenticated: true,
    },
    {
      name: 'a huge scope',
      endpoint: 'token',
      headers: FORM,
      body: form({ grant_type: 'client_credentials', scope: 'accounts '.repeat(5000) }),
      authenticated: true,
    },
    {
      name: 'SQL as client_id without credentials',
      endpoint: 'token',
      headers: FORM,
      body: form({ grant_type: 'client_credentials', client_id: SQL }),
    },
    // Introspection.
    { name: 'no credentials', endpoint: 'introspection', headers: FORM, body: form({ token: 'x' }) },
    {
      name: 'wrong credentials',
      endpoint: 'introspection',
      headers: { ...FORM, authorization: `Basic ${btoa(`${rs.clientId}:${SQL}`)}` },
      body: form({ token: 'x' }),
    },
    {
      name: 'a TPP introspecting',
      endpoint: 'introspection',
      headers: FORM,
      body: `${form({ client_id: tpp.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' })}&client_assertion=x`,
    },
    {
      name: 'token twice',
      endpoint: 'introspection',
      headers: FORM,
      body: form([
        ['token', 'a'],
        ['token', 'b'],
      ]),
      authenticated: true,
    },
    {
      name: 'no token',
      endpoint: 'introspection',
      headers: FORM,
      body: form({ token_type_hint: 'access_token' }),
      authenticated: true,
    },
    {
      name: 'SQL as the token',
      endpoint: 'introspection',
      headers: FORM,
      body: form({ token: SQL }),
      authenticated: true,
      inactive: true,
    },
    {
      name: 'a NUL in the token',
      endpoint: 'introspection',
      headers: FORM,
      body: form({ token: 'a\u0000b' }),
      authenticated: true,
      inactive: true,
    },
    {
      name: 'invalid UTF-8 as the token',
      endpoint: 'introspection',
      headers: FORM,
      body: bytes('token=', [0xff, 0xff]),
      authenticated: true,
      inactive: true,
    },
    {
      name: 'a 50 000 character token',
      endpoint: 'introspection',
      headers: FORM,
      body: form({ token: 't'.repeat(50_000) }),
      authenticated: true,
      inactive: true,
    },
    // Admin API: ids, queries and bodies of every shape.
    {
      name: 'SQL as a client id',
      endpoint: 'admin',
      method: 'GET',
      path: `/admin/clients/${encodeURIComponent(SQL)}`,
      authenticated: true,
    },
    {
      name: 'a NUL in a client id',
      endpoint: 'admin',
      method: 'POST',
      path: '/admin/clients/a%00b/suspend',
      authenticated: true,
    },
    {
      name: 'SQL as a resource server id',
      endpoint: 'admin',
      method: 'DELETE',
      path: `/admin/resource-servers/${encodeURIComponent(SQL)}`,
      authenticated: true,
    },
    { name: 'a NUL in an audit filter', endpoint: 'admin', method: 'GET', path: '/admin/audit?type=a%00b', authenticated: true },
    {
      name: 'an unknown audit filter',
      endpoint: 'admin',
      method: 'GET',
      path: `/admin/audit?${encodeURIComponent(SQL)}=1`,
      authenticated: true,
    },
    {
      name: 'a user with a NUL in the username',
      endpoint: 'admin',
      path: '/admin/users',
      headers: JSON_TYPE,
      body: JSON.stringify({ username: 'a\u0000b', password: 'long enough password' }),
      authenticated: true,
    },
    {
      name: 'a user with a password of 100 000 characters',
      endpoint: 'admin',
      path: '/admin/users',
      headers: JSON_TYPE,
      body: JSON.stringify({ username: 'bigpw', password: 'p'.repeat(60_000) }),
      authenticated: true,
    },
    {
      name: 'an admin key with an unknown scope',
      endpoint: 'admin',
      path: '/admin/admin-keys',
      headers: JSON_TYPE,
      body: JSON.stringify({ name: 'x', scopes: ['*'] }),
      authenticated: true,
    },
    {
      name: 'a resource server with SQL as its resource',
      endpoint: 'admin',
      path: '/admin/resource-servers',
      headers: JSON_TYPE,
      body: JSON.stringify({ resource: SQL, name: 'x', scopes: ['a'] }),
      authenticated: true,
    },
    {
      name: 'a forged admin key',
      endpoint: 'admin',
      method: 'GET',
      headers: { authorization: `Bearer pcak_0123456789abcdef_${'A'.repeat(43)}` },
    },
    { name: 'an admin key with SQL', endpoint: 'admin', method: 'GET', headers: { authorization: `Bearer ${SQL}` } },
  ];

  test('every hostile request is a 4xx in the endpoint’s format, and nothing is written', async () => {
    const before = await rowCounts();
    const seen: Record<string, string> = {};
    for (const request of table()) {
      const response = await send(request);
      seen[`${request.endpoint}: ${request.name}`] = `${response.status} ${await assertRefused(request, response)}`;
    }
    // Spot checks that each cap answers with its own error, not by accident.
    assert.match(seen['par: a 1 MiB body'] ?? '', /^413 invalid_request/);
    assert.match(seen['admin: a 200 KiB chunked body'] ?? '', /^413 invalid_request/);
    assert.match(seen['admin: JSON nested 5000 deep'] ?? '', /^400 invalid_request/);
    assert.match(seen['registration: JSON nested 5000 deep'] ?? '', /^400 invalid_client_metadata/);
    assert.match(seen['registration: invalid UTF-8 in a string'] ?? '', /^400 invalid_client_metadata/);
    assert.match(seen['admin: invalid UTF-8 in a string'] ?? '', /^400 invalid_request/);
    assert.match(seen['registration: a NUL character'] ?? '', /^400 invalid_client_metadata/);
    assert.match(seen['admin: a NUL character'] ?? '', /^400 invalid_request/);
    assert.match(seen['registration: a lone UTF-16 surrogate (\\ud800)'] ?? '', /^400 invalid_client_metadata/);
    assert.match(seen['admin: a lone UTF-16 surrogate (\\ud800)'] ?? '', /^400 invalid_request/);
    assert.match(seen['par: a lone UTF-16 surrogate in authorization_details'] ?? '', /^400 invalid_authorization_details/);
    assert.match(seen['par: a lone UTF-16 surrogate in the claims parameter'] ?? '', /^400 invalid_request/);
    assert.match(seen['par: a NUL in the claims parameter'] ?? '', /^400 invalid_request/);
    assert.match(seen['admin: a JWKS of 10 huge keys'] ?? '', /^400 invalid_client_metadata/);
    assert.match(seen['par: state of 5000 characters'] ?? '', /^400 invalid_request/);
    assert.match(seen['par: state with invalid UTF-8 (raw bytes)'] ?? '', /^400 invalid_request/);
    assert.match(seen['par: state with a NUL byte'] ?? '', /^400 invalid_request/);
    assert.match(seen['par: a request object of 20 KiB'] ?? '', /^400 invalid_request_object/);
    assert.match(seen['token: a NUL in code'] ?? '', /^400 invalid_(request|grant)/);
    assert.match(seen['admin: a NUL in a client id'] ?? '', /^400 invalid_request/);
    assert.deepEqual(await rowCounts(), before);
  });

  test('random form bodies at PAR and token, random JSON at registration and the admin API (fast-check)', async () => {
    const before = await rowCounts();
    const text = fc.string({ unit: 'binary', maxLength: 300 });
    const params = fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            'state',
            'nonce',
            'scope',
            'code',
            'grant_type',
            'client_id',
            'request',
            'resource',
            'authorization_details',
          ),
          text,
        ),
        text,
      ),
      { maxLength: 8 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Endpoint>('par', 'token'),
        params,
        fc.boolean(),
        async (endpoint, fields, authenticated) => {
          const request: HostileRequest = {
            name: JSON.stringify(fields),
            endpoint,
            headers: FORM,
            body: form(fields),
            authenticated,
          };
          await assertRefused(request, await send(request));
        },
      ),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Endpoint>('registration', 'admin'),
        fc.jsonValue({ maxDepth: 6 }),
        async (endpoint, value) => {
          const request: HostileRequest = {
            name: JSON.stringify(value),
            endpoint,
            headers: JSON_TYPE,
            body: JSON.stringify(value),
            authenticated: true,
          };
          await assertRefused(request, await send(request));
        },
      ),
      { numRuns: 60 },
    );
    assert.deepEqual(await rowCounts(), before);
  });

  test('the process is still up and logged no server error', async () => {
    const health = await fetch(`${server.issuer}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const errors = logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
    assert.deepEqual(errors, []);
  });
});
