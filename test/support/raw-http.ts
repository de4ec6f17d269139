// One request through node:http, for what fetch refuses to send: TRACE (a forbidden method in the
// Fetch standard), arbitrary methods, and paths exactly as written (no dot-segment or slash cleanup).
import { type IncomingMessage, request } from 'node:http';

export function rawRequest(url: string, method: string, headers: Record<string, string> = {}): Promise<Response> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      // `path` as given: URL would already have normalised it.
      { host: target.hostname, port: target.port, method, path: url.slice(target.origin.length), headers, agent: false },
      (res) => resolve(asFetchResponse(res, method)),
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * A node:http(s) response as a fetch Response, once its body has arrived: every header (repeated
 * ones appended, as fetch keeps them), and no body where HTTP has none (204, 304, HEAD).
 */
export function asFetchResponse(res: IncomingMessage, method = 'GET'): Promise<Response> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('end', () => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
      }
      const status = res.statusCode ?? 0;
      const body = status === 204 || status === 304 || method === 'HEAD' ? null : Buffer.concat(chunks);
      resolve(new Response(body, { status, headers }));
    });
  });
}
