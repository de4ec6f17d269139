// One request through node:http, for what fetch refuses to send: TRACE (a forbidden method in the
// Fetch standard), arbitrary methods, and paths exactly as written (no dot-segment or slash cleanup).
import { request } from 'node:http';

export function rawRequest(url: string, method: string, headers: Record<string, string> = {}): Promise<Response> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      // `path` as given: URL would already have normalised it.
      { host: target.hostname, port: target.port, method, path: url.slice(target.origin.length), headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') responseHeaders.set(name, value);
          }
          const status = res.statusCode ?? 0;
          const body = status === 204 || status === 304 || method === 'HEAD' ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: responseHeaders }));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
