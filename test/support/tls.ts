// HTTPS from tests: a fetch (for oauth4webapi's customFetch, or direct use) that trusts the test
// CA and presents a client certificate when given one, and a Portcullis started with TLS_CERT,
// TLS_KEY and an mTLS listener on fixed ports (so its advertised aliases are right).
import { request } from 'node:https';
import * as oauth from 'oauth4webapi';
import { type TlsFiles, tlsFiles } from './certificates.ts';
import { asFetchResponse } from './raw-http.ts';
import { freePort, startTestServer, type TestServer } from './server.ts';

export interface ClientTls {
  /** CA certificates the client trusts (the test CA that issued the server certificate). */
  ca: string;
  cert?: string;
  key?: string;
}

/** A fetch over node:https: each call a fresh connection, so each carries the given certificate. */
export function tlsFetch(tls: ClientTls): typeof fetch {
  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          ca: tls.ca,
          agent: false,
          ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        },
        (res) => asFetchResponse(res, init.method ?? 'GET').then(resolve, reject),
      );
      req.on('error', reject);
      req.end(body);
    });
  }) as typeof fetch;
}

/** oauth4webapi options for a request with this TLS client identity. */
export const viaTls = (tls: ClientTls) => ({ [oauth.customFetch]: tlsFetch(tls) }) as const;

export interface TlsTestServer extends TestServer {
  files: TlsFiles;
  /** https://127.0.0.1:PORT */
  httpsIssuer: string;
  /** https://127.0.0.1:MTLS_PORT */
  mtlsBase: string;
  /** Plain HTTP admin listener (ADMIN_PORT) for registering clients. */
  adminBase: string;
}

export async function startTlsServer(env: Record<string, string> = {}, files?: TlsFiles): Promise<TlsTestServer> {
  const tls = files ?? (await tlsFiles());
  const port = await freePort();
  const mtlsPort = await freePort();
  const httpsIssuer = `https://127.0.0.1:${port}`;
  const server = await startTestServer({
    env: {
      PORT: String(port),
      ISSUER: httpsIssuer,
      TLS_CERT: tls.certPath,
      TLS_KEY: tls.keyPath,
      MTLS_PORT: String(mtlsPort),
      MTLS_CA_BUNDLE: tls.caBundlePath,
      ADMIN_PORT: '0',
      ...env,
    },
  });
  const adminBase = `http://127.0.0.1:${server.server.adminPort}`;
  // The helper's admin() speaks to the public listener over http; here the admin API has its own.
  const admin: TestServer['admin'] = (method, path, body, key = server.adminKey) =>
    fetch(`${adminBase}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  return Object.assign(server, {
    issuer: httpsIssuer,
    files: tls,
    httpsIssuer,
    mtlsBase: `https://127.0.0.1:${mtlsPort}`,
    adminBase,
    admin,
  });
}
