// The admin API as an operator's script sees it: key authentication and scopes, zod-strict
// client metadata under the FAPI rules (OWASP API3), the client lifecycle, body limits, the
// OpenAPI document, responses that match the schemas they are documented with, and RFC 7591
// dynamic registration behind an initial access token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { z } from 'zod';
import { adminOperations } from '../src/admin/router.ts';
import {
  adminKeyOutput,
  clientOutput,
  errorOutput,
  initialAccessTokenOutput,
  resourceServerOutput,
  signingKeyOutput,
  userOutput,
} from '../src/admin/schemas.ts';
import { dpopKey } from './support/fapi.ts';
import { rawRequest } from './support/raw-http.ts';
import { freePort, startTestServer, type TestServer } from './support/server.ts';
import { clientCredentials, discover, type KeyPair, keyPair, REDIRECT_URI, registerResourceServer } from './support/tpp.ts';

/** Parses a response body with a schema that, unlike the documented one, refuses undocumented fields. */
async function expectBody<S extends z.ZodObject>(response: Response, status: number, schema: S): Promise<z.output<S>> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  return schema.strict().parse(JSON.parse(text)) as z.output<S>;
}

async function expectError(response: Response, status: number, error: string, mentions?: RegExp) {
  const body = await expectBody(response, status, errorOutput);
  assert.equal(body.error, error, body.error_description);
  if (mentions) assert.match(body.error_description, mentions);
  return body;
}

describe('admin API', () => {
  let server: TestServer;
  let key: KeyPair;
  const client = (overrides: Record<string, unknown> = {}) => ({
    client_name: 'Fintech Ltd',
    redirect_uris: [REDIRECT_URI],
    jwks: { keys: [key.publicJwk] },
    ...overrides,
  });

  before(async () => {
    server = await startTestServer();
    key = await keyPair('ES256');
  });
  after(() => server.close());

  describe('authentication', () => {
    const cases: { name: string; authorization?: string }[] = [
      { name: 'no Authorization header' },
      { name: 'an empty Bearer', authorization: 'Bearer ' },
      { name: 'Basic credentials', authorization: 'Basic YWRtaW46YWRtaW4=' },
      { name: 'a malformed key', authorization: 'Bearer letmein' },
      { name: 'a well-formed but unknown key', authorization: `Bearer pcak_0123456789abcdef_${'A'.repeat(43)}` },
    ];
    for (const { name, authorization } of cases) {
      test(`${name} -> 401 invalid_token with WWW-Authenticate`, async () => {
        const response = await fetch(`${server.issuer}/admin/clients`, { headers: authorization ? { authorization } : {} });
        assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
        await expectError(response, 401, 'invalid_token');
      });
    }

    test('a wrong secret for an existing key id -> 401', async () => {
      const [prefix, id] = server.adminKey.split('_');
      await expectError(
        await server.admin('GET', '/admin/clients', undefined, `${prefix}_${id}_${'B'.repeat(43)}`),
        401,
        'invalid_token',
      );
    });

    test('a revoked key -> 401', async () => {
      const created = await expectBody(
        await server.admin('POST', '/admin/admin-keys', { name: 'short-lived', scopes: ['clients:read'] }),
        201,
        adminKeyOutput,
      );
      assert.ok(created.key);
      assert.equal((await server.admin('GET', '/admin/clients', undefined, created.key)).status, 200);
      assert.equal((await server.admin('DELETE', '/admin/admin-keys/short-lived')).status, 204);
      await expectError(await server.admin('GET', '/admin/clients', undefined, created.key), 401, 'invalid_token');
    });

    test('a key without the scope -> 403 insufficient_scope naming it', async () => {
      const { key: readOnly } = await expectBody(
        await server.admin('POST', '/admin/admin-keys', { name: 'read-only', scopes: ['clients:read'] }),
        201,
        adminKeyOutput,
      );
      const response = await server.admin('POST', '/admin/clients', client(), readOnly);
      assert.match(response.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      await expectError(response, 403, 'insufficient_scope', /clients:write/);
    });
  });

  describe('no route map without a key', () => {
    // The key is checked before routing: a 404 for an unknown path, a 405 with Allow or an OPTIONS
    // answer would tell anyone which admin routes exist and what they take.
    const requests: [string, string][] = [
      ['GET', '/admin/clients'],
      ['PUT', '/admin/clients'],
      ['PATCH', '/admin/clients'],
      ['DELETE', '/admin/clients'],
      ['OPTIONS', '/admin/clients'],
      ['TRACE', '/admin/clients'],
      ['GET', '/admin/nope'],
      ['POST', '/admin/nope/deeper'],
      ['GET', '/admin'],
      ['GET', '/admin/'],
      ['GET', '/ADMIN/Clients/'],
      ['PUT', '/Admin/Clients'],
      ['GET', '/admin/openapi.json'],
    ];
    const keys: [string, Record<string, string>][] = [
      ['no key', {}],
      ['a wrong key', { authorization: `Bearer pcak_0123456789abcdef_${'A'.repeat(43)}` }],
    ];

    for (const [label, headers] of keys) {
      test(`${label}: every path and method under /admin is the same 401, with WWW-Authenticate and no Allow`, async () => {
        for (const [method, path] of requests) {
          const response = await rawRequest(`${server.issuer}${path}`, method, headers);
          const at = `${method} ${path}`;
          assert.equal(response.status, 401, at);
          assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="portcullis-admin"', at);
          assert.equal(response.headers.get('allow'), null, at);
          assert.match(response.headers.get('content-type') ?? '', /^application\/json/, at);
          const { request_id: _, ...body } = (await response.json()) as Record<string, unknown>;
          assert.deepEqual(body, { error: 'invalid_token', error_description: 'authentication required' }, at);
        }
      });
    }

    test('with a key: an unknown path is 404, a method the route does not take is 405 with Allow, OPTIONS lists them', async () => {
      const authorization = { authorization: `Bearer ${server.adminKey}` };
      await expectError(await rawRequest(`${server.issuer}/admin/nope`, 'GET', authorization), 404, 'not_found');
      for (const method of ['PUT', 'PATCH', 'TRACE']) {
        const response = await rawRequest(`${server.issuer}/admin/clients`, method, authorization);
        assert.deepEqual(
          (response.headers.get('allow') ?? '').split(', ').sort(),
          ['GET', 'HEAD', 'POST'],
          `${method} /admin/clients`,
        );
        await expectError(response, 405, 'invalid_request', new RegExp(`${method} method is not allowed`));
      }
      const options = await rawRequest(`${server.issuer}/admin/clients`, 'OPTIONS', authorization);
      assert.equal(options.status, 204);
      assert.equal(options.headers.get('allow')?.split(', ').sort().join(','), 'GET,HEAD,POST');
    });

    test('the same on the internal admin listener (ADMIN_PORT)', async () => {
      const adminPort = await freePort();
      const split = await startTestServer({ env: { ADMIN_PORT: String(adminPort) } });
      try {
        for (const [method, path] of [
          ['PUT', '/admin/clients'],
          ['OPTIONS', '/admin/clients'],
          ['GET', '/admin/nope'],
          ['GET', '/admin/openapi.json'],
        ] as const) {
          const response = await rawRequest(`http://127.0.0.1:${adminPort}${path}`, method);
          assert.equal(response.status, 401, `${method} ${path}`);
          assert.equal(response.headers.get('allow'), null, `${method} ${path}`);
        }
        const listed = await rawRequest(`http://127.0.0.1:${adminPort}/admin/clients`, 'GET', {
          authorization: `Bearer ${split.adminKey}`,
        });
        assert.equal(listed.status, 200);
      } finally {
        await split.close();
      }
    });
  });

  describe('client metadata is strict and FAPI-only', () => {
    const refused: { name: string; body: () => Record<string, unknown>; error: string; mentions: RegExp }[] = [
      {
        name: 'client_id chosen by the caller',
        body: () => client({ client_id: 'mine' }),
        error: 'invalid_client_metadata',
        mentions: /client_id/,
      },
      { name: 'an unknown field', body: () => client({ foo: 'bar' }), error: 'invalid_client_metadata', mentions: /foo/ },
      {
        name: 'a client secret',
        body: () => client({ client_secret: 's3cret' }),
        error: 'invalid_client_metadata',
        mentions: /client_secret/,
      },
      {
        name: 'a status (mass assignment)',
        body: () => client({ status: 'active' }),
        error: 'invalid_client_metadata',
        mentions: /status/,
      },
      {
        name: 'client_secret_basic',
        body: () => client({ token_endpoint_auth_method: 'client_secret_basic' }),
        error: 'invalid_client_metadata',
        mentions: /token_endpoint_auth_method/,
      },
      {
        name: 'the implicit grant',
        body: () => client({ grant_types: ['implicit'] }),
        error: 'invalid_client_metadata',
        mentions: /grant_types/,
      },
      {
        name: 'an RS256 signing alg',
        body: () => client({ token_endpoint_auth_signing_alg: 'RS256' }),
        error: 'invalid_client_metadata',
        mentions: /token_endpoint_auth_signing_alg/,
      },
      {
        name: 'DPoP switched off without mTLS binding',
        body: () => client({ dpop_bound_access_tokens: false }),
        error: 'invalid_client_metadata',
        mentions: /sender-constrained/,
      },
      {
        name: 'an http redirect URI to a public host',
        body: () => client({ redirect_uris: ['http://tpp.example/callback'] }),
        error: 'invalid_redirect_uri',
        mentions: /https/,
      },
      {
        name: 'a redirect URI with a fragment',
        body: () => client({ redirect_uris: ['https://tpp.example/callback#frag'] }),
        error: 'invalid_redirect_uri',
        mentions: /fragment/,
      },
      {
        name: 'a custom-scheme redirect URI',
        body: () => client({ redirect_uris: ['com.fintech.app:/callback'] }),
        error: 'invalid_redirect_uri',
        mentions: /https/,
      },
    ];
    for (const { name, body, error, mentions } of refused) {
      test(`refused: ${name} -> 400 ${error}`, async () => {
        await expectError(await server.admin('POST', '/admin/clients', body()), 400, error, mentions);
      });
    }

    for (const uri of ['http://127.0.0.1:8080/callback', 'http://[::1]:8080/callback']) {
      test(`allowed: loopback redirect URI ${uri}`, async () => {
        const created = await expectBody(
          await server.admin('POST', '/admin/clients', client({ redirect_uris: [uri] })),
          201,
          clientOutput,
        );
        assert.deepEqual(created.metadata.redirect_uris, [uri]);
      });
    }

    test('the stored client is DPoP-bound and PAR-only', async () => {
      const created = await expectBody(await server.admin('POST', '/admin/clients', client()), 201, clientOutput);
      assert.equal(created.metadata.dpop_bound_access_tokens, true);
      assert.equal(created.metadata.require_pushed_authorization_requests, true);
      assert.equal(created.metadata.client_secret, undefined);
    });
  });

  describe('client lifecycle', () => {
    test('create, read, list, replace, suspend, activate, delete', async () => {
      const created = await expectBody(await server.admin('POST', '/admin/clients', client()), 201, clientOutput);
      const id = created.client_id;
      assert.equal(created.status, 'active');
      assert.equal(created.dynamically_registered, false);

      const read = await expectBody(await server.admin('GET', `/admin/clients/${id}`), 200, clientOutput);
      assert.deepEqual(read, created);

      const listed = await server.admin('GET', '/admin/clients');
      assert.equal(listed.status, 200);
      const all = z.array(clientOutput.strict()).parse(await listed.json());
      assert.ok(all.some((c) => c.client_id === id));

      const replaced = await expectBody(
        await server.admin('PUT', `/admin/clients/${id}`, client({ client_name: 'Renamed Ltd', trust_tier: 'partner' })),
        200,
        clientOutput,
      );
      assert.equal(replaced.metadata.client_name, 'Renamed Ltd');
      assert.equal(replaced.trust_tier, 'partner');
      assert.equal(replaced.client_id, id);

      await expectError(
        await server.admin('PUT', `/admin/clients/${id}`, client({ foo: 1 })),
        400,
        'invalid_client_metadata',
        /foo/,
      );

      const suspended = await expectBody(await server.admin('POST', `/admin/clients/${id}/suspend`), 200, clientOutput);
      assert.equal(suspended.status, 'suspended');
      const activated = await expectBody(await server.admin('POST', `/admin/clients/${id}/activate`), 200, clientOutput);
      assert.equal(activated.status, 'active');

      const deleted = await server.admin('DELETE', `/admin/clients/${id}`);
      assert.equal(deleted.status, 204);
      assert.equal(await deleted.text(), '');
      await expectError(await server.admin('GET', `/admin/clients/${id}`), 404, 'not_found');
      await expectError(await server.admin('DELETE', `/admin/clients/${id}`), 404, 'not_found');
    });

    test("a resource server's client record is not a TPP client", async () => {
      const rs = await registerResourceServer(server);
      await expectError(await server.admin('GET', `/admin/clients/${rs.clientId}`), 404, 'not_found');
      await expectError(await server.admin('POST', `/admin/clients/${rs.clientId}/suspend`), 404, 'not_found');
    });
  });

  describe('request bodies', () => {
    test('malformed JSON -> 400 invalid_request', async () => {
      const response = await fetch(`${server.issuer}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: '{"client_name": ',
      });
      await expectError(response, 400, 'invalid_request', /JSON/);
    });

    test('a body over BODY_LIMIT_BYTES -> 413, with or without Content-Length', async () => {
      const oversized = JSON.stringify(client({ client_name: 'x'.repeat(server.config.BODY_LIMIT_BYTES) }));
      const declared = await fetch(`${server.issuer}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: oversized,
      });
      await expectError(declared, 413, 'invalid_request', /exceeds/);

      const bytes = new TextEncoder().encode(oversized);
      const streamed = await fetch(`${server.issuer}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      await expectError(streamed, 413, 'invalid_request', /exceeds/);
    });

    test('a body that is not JSON -> 415', async () => {
      const response = await fetch(`${server.issuer}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'client_name=x',
      });
      await expectError(response, 415, 'invalid_request');
    });
  });

  describe('responses match their documented schemas', () => {
    test('resource servers, initial access tokens, keys, users, admin keys', async () => {
      const rs = await expectBody(
        await server.admin('POST', '/admin/resource-servers', {
          resource: 'https://api.bank.example/schema',
          name: 'API',
          scopes: ['accounts'],
        }),
        201,
        resourceServerOutput,
      );
      assert.match(rs.client_secret ?? '', /^rss_/);
      const listed = z
        .array(resourceServerOutput.strict())
        .parse(await (await server.admin('GET', '/admin/resource-servers')).json());
      const again = listed.find((r) => r.id === rs.id);
      assert.ok(again && again.client_secret === undefined, 'the secret is shown once only');

      const iat = await expectBody(
        await server.admin('POST', '/admin/initial-access-tokens', {
          ttl: 600,
          authorization_details_types: ['account_information'],
        }),
        201,
        initialAccessTokenOutput,
      );
      assert.deepEqual(iat.authorization_details_types, ['account_information']);
      z.array(signingKeyOutput.strict()).parse(await (await server.admin('GET', '/admin/keys')).json());
      const user = await expectBody(
        await server.admin('POST', '/admin/users', { username: 'alice', password: 'correct horse battery' }),
        201,
        userOutput,
      );
      assert.equal(user.username, 'alice');
      // Audited with the customer and what the initial access token allows.
      const audited = async (type: string) =>
        (await server.server.services.audit.query({ type, limit: 10 })).at(-1)?.details as Record<string, unknown>;
      const [created] = await server.server.services.audit.query({ type: 'customer.created', customerId: user.id, limit: 1 });
      assert.equal(created?.customer_id, user.id);
      assert.deepEqual((await audited('initial_access_token.created'))?.authorization_details_types, ['account_information']);
      assert.equal((await audited('initial_access_token.created'))?.expires_in, 600);
      const keys = z.array(adminKeyOutput.strict()).parse(await (await server.admin('GET', '/admin/admin-keys')).json());
      assert.ok(keys.length >= 1 && keys.every((k) => k.key === undefined), 'listing never shows keys');
    });
  });

  describe('/admin/openapi.json', () => {
    let document: {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>>;
    };

    before(async () => {
      // Behind a key like the routes it maps (any valid key: it needs no scope).
      const response = await server.admin('GET', '/admin/openapi.json');
      assert.equal(response.status, 200);
      document = (await response.json()) as typeof document;
    });

    test('is OpenAPI 3 and documents every admin operation', () => {
      assert.match(document.openapi, /^3\.\d+\.\d+$/);
      const operations = adminOperations(server.server.services, server.server.holder);
      assert.ok(operations.length >= 10);
      for (const op of operations) {
        const path = op.path.replace(/:([a-z_]+)/g, '{$1}');
        assert.ok(document.paths[path]?.[op.method], `${op.method.toUpperCase()} ${path} is not documented`);
      }
    });

    test('client creation refuses additional properties', () => {
      const schema = document.paths['/admin/clients']?.post?.requestBody?.content['application/json']?.schema;
      assert.ok(schema);
      assert.equal(schema.additionalProperties, false);
      assert.ok(Array.isArray(schema.required) && (schema.required as string[]).includes('redirect_uris'));
      const properties = schema.properties as Record<string, unknown>;
      assert.ok('jwks' in properties && !('client_id' in properties) && !('client_secret' in properties));
    });
  });

  describe('RFC 7591 dynamic registration at /reg', () => {
    const register = (body: unknown, token?: string) =>
      fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const BOTH = ['account_information', 'payment_initiation'];
    /** An initial access token for a TPP the bank allows `types` (both unless said). */
    const mint = async (types: string[] = BOTH) =>
      (
        await expectBody(
          await server.admin('POST', '/admin/initial-access-tokens', { authorization_details_types: types }),
          201,
          initialAccessTokenOutput,
        )
      ).initial_access_token;
    const fapiClient = () => ({
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [key.publicJwk] },
      dpop_bound_access_tokens: true,
    });

    test('without an initial access token -> 401 invalid_token', async () => {
      const response = await register(fapiClient());
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_token');
    });

    test('with a made-up initial access token -> 401 invalid_token', async () => {
      const response = await register(fapiClient(), 'not-a-token');
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_token');
    });

    test('with one minted by the admin API, a FAPI client registers and obtains DPoP tokens', async () => {
      const response = await register(fapiClient(), await mint());
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 201, JSON.stringify(body));
      assert.equal(typeof body.client_id, 'string');
      assert.equal(body.client_secret, undefined);
      assert.equal(body.token_endpoint_auth_method, 'private_key_jwt');
      assert.equal(body.dpop_bound_access_tokens, true);
      assert.equal(body.require_pushed_authorization_requests, true);

      const record = await expectBody(await server.admin('GET', `/admin/clients/${body.client_id}`), 200, clientOutput);
      assert.equal(record.dynamically_registered, true);

      const rs = await registerResourceServer(server);
      const tpp = {
        clientId: body.client_id as string,
        key,
        client: { client_id: body.client_id as string },
        auth: oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
        metadata: body,
      };
      const token = await clientCredentials(
        await discover(server.issuer),
        tpp,
        { scope: 'accounts', resource: rs.resource },
        (await dpopKey()).pair,
      );
      assert.equal(token.token_type, 'dpop');
    });

    const refused: { name: string; body: () => Record<string, unknown>; error: string }[] = [
      {
        name: 'client_secret_basic',
        body: () => ({ ...fapiClient(), token_endpoint_auth_method: 'client_secret_basic' }),
        error: 'invalid_client_metadata',
      },
      {
        name: 'the implicit grant',
        body: () => ({ ...fapiClient(), grant_types: ['implicit'], response_types: ['token'] }),
        error: 'invalid_client_metadata',
      },
      {
        name: 'an RS256 signing alg',
        body: () => ({ ...fapiClient(), token_endpoint_auth_signing_alg: 'RS256' }),
        error: 'invalid_client_metadata',
      },
      {
        name: 'an http redirect URI',
        body: () => ({ ...fapiClient(), redirect_uris: ['http://tpp.example/cb'] }),
        error: 'invalid_redirect_uri',
      },
    ];
    for (const { name, body, error } of refused) {
      test(`refused: ${name} -> 400 ${error}`, async () => {
        const response = await register(body(), await mint());
        const answer = (await response.json()) as { error: string };
        assert.equal(response.status, 400, JSON.stringify(answer));
        assert.equal(answer.error, error);
      });
    }

    // BRIEF OWASP API3: registration inputs are zod-strict, as the admin API's are.
    test('RFC 7592: the client reads and replaces its registration; unknown fields are refused there too', async () => {
      const created = (await (await register(fapiClient(), await mint())).json()) as Record<string, unknown>;
      const uri = created.registration_client_uri as string;
      const read = await fetch(uri, { headers: { authorization: `Bearer ${created.registration_access_token}` } });
      assert.equal(read.status, 200);
      const current = (await read.json()) as Record<string, unknown>;
      assert.equal(current.client_id, created.client_id);

      const { registration_access_token: _t, registration_client_uri: _u, client_id_issued_at: _i, ...echo } = current;
      const put = (body: unknown, token: unknown) =>
        fetch(uri, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        });
      const refused = await put({ ...echo, foo: 'bar' }, created.registration_access_token);
      assert.equal(refused.status, 400);
      assert.equal(((await refused.json()) as { error: string }).error, 'invalid_client_metadata');

      const claimed = await put({ ...echo, organisation_name: 'Big Trusted Bank plc' }, created.registration_access_token);
      assert.equal(claimed.status, 400);
      assert.match(
        ((await claimed.json()) as { error_description: string }).error_description,
        /organisation_name is set by the bank/,
      );

      const updated = await put({ ...echo, client_name: 'Renamed Fintech' }, created.registration_access_token);
      const body = (await updated.json()) as Record<string, unknown>;
      assert.equal(updated.status, 200, JSON.stringify(body));
      assert.equal(body.client_name, 'Renamed Fintech');
      assert.equal(body.dpop_bound_access_tokens, true);
    });

    test("RFC 7592: an update that leaves out the bank's organisation_name / organisation_id keeps them", async () => {
      const created = (await (await register(fapiClient(), await mint())).json()) as Record<string, unknown>;
      const clientId = created.client_id as string;
      // The operator records who the TPP is (admin API: the whole metadata, plus the bank's fields).
      const recorded = await server.admin('PUT', `/admin/clients/${clientId}`, {
        ...fapiClient(),
        client_name: 'Example Fintech',
        organisation_name: 'Example Fintech Ltd',
        organisation_id: 'PSDGB-FCA-123456',
      });
      assert.equal(recorded.status, 200, await recorded.clone().text());
      // The client replaces its registration without echoing the bank's fields.
      const updated = await fetch(created.registration_client_uri as string, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${created.registration_access_token}` },
        body: JSON.stringify({ client_id: clientId, ...fapiClient(), client_name: 'Renamed Fintech' }),
      });
      assert.equal(updated.status, 200, await updated.clone().text());
      const record = (await (await server.admin('GET', `/admin/clients/${clientId}`)).json()) as {
        metadata: Record<string, unknown>;
      };
      assert.equal(record.metadata.client_name, 'Renamed Fintech');
      assert.equal(record.metadata.organisation_name, 'Example Fintech Ltd');
      assert.equal(record.metadata.organisation_id, 'PSDGB-FCA-123456');
    });

    // organisation_name / organisation_id are the bank's record of who the TPP is: never self-asserted.
    for (const extra of [
      { foo: 'bar' },
      { client_secret: 'chosen-by-the-client' },
      { organisation_name: 'Big Trusted Bank plc' },
      { organisation_id: 'PSDGB-FCA-000001' },
    ]) {
      test(`refused: unknown field ${Object.keys(extra)[0]} -> 400 invalid_client_metadata naming it`, async () => {
        const response = await register({ ...fapiClient(), ...extra }, await mint());
        const answer = (await response.json()) as { error: string; error_description: string };
        assert.equal(response.status, 400);
        assert.equal(answer.error, 'invalid_client_metadata');
        assert.match(answer.error_description, new RegExp(Object.keys(extra)[0] as string));
      });
    }

    // OWASP API5 / PSD2 RTS Art. 34: the operator's decision at minting bounds what a TPP without a
    // QWAC may register; RFC 7592 updates stay inside it (oidc/registration-bound.ts).
    describe('the authorization_details types the initial access token allows', () => {
      const registered = async (body: Record<string, unknown>, token: string) => {
        const response = await register(body, token);
        const answer = (await response.json()) as Record<string, unknown>;
        assert.equal(response.status, 201, JSON.stringify(answer));
        return answer;
      };
      const expectTypeRefused = async (response: Response, type: string) => {
        const answer = (await response.json()) as { error: string; error_description: string };
        assert.equal(response.status, 400, JSON.stringify(answer));
        assert.equal(answer.error, 'invalid_client_metadata');
        assert.match(answer.error_description, new RegExp(`^authorization_details_types: ${type} cannot be registered`));
      };

      test('account_information only: payment_initiation refused (invalid_client_metadata naming the field)', async () => {
        const token = await mint(['account_information']);
        const count = async () => ((await (await server.admin('GET', '/admin/clients')).json()) as unknown[]).length;
        const before = await count();
        for (const types of [['payment_initiation'], ['account_information', 'payment_initiation']]) {
          await expectTypeRefused(
            await register({ ...fapiClient(), authorization_details_types: types }, token),
            'payment_initiation',
          );
        }
        assert.equal(await count(), before, 'nothing was registered');
      });

      test('account_information only: asking for account_information registers it', async () => {
        const body = await registered(
          { ...fapiClient(), authorization_details_types: ['account_information'] },
          await mint(['account_information']),
        );
        assert.deepEqual(body.authorization_details_types, ['account_information']);
      });

      test('account_information only: naming no types, the client gets exactly [account_information]', async () => {
        const body = await registered(fapiClient(), await mint(['account_information']));
        assert.deepEqual(body.authorization_details_types, ['account_information']);
        const record = await expectBody(await server.admin('GET', `/admin/clients/${body.client_id}`), 200, clientOutput);
        assert.deepEqual(record.metadata.authorization_details_types, ['account_information']);
      });

      test('RFC 7592: an update adding payment_initiation is refused, before and after the token rotates', async () => {
        const created = await registered(fapiClient(), await mint(['account_information']));
        const uri = created.registration_client_uri as string;
        const { registration_access_token: first, registration_client_uri: _u, client_id_issued_at: _i, ...echo } = created;
        const put = (body: unknown, token: unknown) =>
          fetch(uri, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify(body),
          });
        const both = { ...echo, authorization_details_types: BOTH };
        await expectTypeRefused(await put(both, first), 'payment_initiation');

        // A valid update (without the field: the bound again) rotates the registration access token.
        const { authorization_details_types: _types, ...withoutTypes } = echo;
        const renamed = await put({ ...withoutTypes, client_name: 'Renamed' }, first);
        const after = (await renamed.json()) as Record<string, unknown>;
        assert.equal(renamed.status, 200, JSON.stringify(after));
        assert.deepEqual(after.authorization_details_types, ['account_information']);
        assert.notEqual(after.registration_access_token, first);
        await expectTypeRefused(await put(both, after.registration_access_token), 'payment_initiation');

        const record = await expectBody(await server.admin('GET', `/admin/clients/${created.client_id}`), 200, clientOutput);
        assert.deepEqual(record.metadata.authorization_details_types, ['account_information']);
      });

      test('both types allowed: the client registers both, or gets both naming none', async () => {
        const asked = await registered({ ...fapiClient(), authorization_details_types: BOTH }, await mint(BOTH));
        assert.deepEqual(asked.authorization_details_types, BOTH);
        const omitted = await registered(fapiClient(), await mint(BOTH));
        assert.deepEqual(omitted.authorization_details_types, BOTH);
        const narrower = await registered(
          { ...fapiClient(), authorization_details_types: ['payment_initiation'] },
          await mint(['payment_initiation', 'account_information']),
        );
        assert.deepEqual(narrower.authorization_details_types, ['payment_initiation']);
      });

      const badRequests: { name: string; body: Record<string, unknown> }[] = [
        { name: 'without authorization_details_types', body: { ttl: 600 } },
        { name: 'with no body at all', body: {} },
        { name: 'with an unknown type', body: { authorization_details_types: ['account_information', 'card_payments'] } },
        { name: 'with an empty list', body: { authorization_details_types: [] } },
        { name: 'with a type twice', body: { authorization_details_types: ['payment_initiation', 'payment_initiation'] } },
        { name: 'with a string for the list', body: { authorization_details_types: 'account_information' } },
      ];
      for (const { name, body } of badRequests) {
        test(`the admin API refuses an initial access token ${name} -> 400 invalid_request naming the field`, async () => {
          await expectError(
            await server.admin('POST', '/admin/initial-access-tokens', body),
            400,
            'invalid_request',
            /authorization_details_types/,
          );
        });
      }
    });

    // FAPI 2.0 SP 5.3.2.1-4: a client that names no binding is DPoP-bound, as through the admin API.
    test('a client naming no sender constraint becomes DPoP-bound, as through the admin API', async () => {
      const { dpop_bound_access_tokens: _omitted, ...withoutBinding } = fapiClient();
      const response = await register(withoutBinding, await mint());
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 201, JSON.stringify(body));
      assert.equal(body.dpop_bound_access_tokens, true);
    });
  });
});
