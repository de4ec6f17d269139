// The one place a request body is read from the socket, with a size cap. Used by our JSON and form
// readers and by the rate limiter's early look at a form (buffered-body.ts).
import type { Context } from 'koa';
import { InvalidRequest, PayloadTooLarge } from './errors.ts';

/**
 * The body's bytes, at most `limit` of them; a longer body is a 413. A middleware in front may have
 * read the bytes already (see buffered-body.ts): then those are returned, under the same cap.
 */
export async function readBodyBytes(ctx: Context, limit: number, buffered?: Buffer): Promise<Buffer> {
  if (Number(ctx.get('content-length') || 0) > limit) throw new PayloadTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving a plain `for await` early destroys the request stream, and Koa then answers a bare
  // 500 instead of our 413: stop reading without destroying, and close the connection after.
  for await (const chunk of buffered ? [buffered] : ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      ctx.req.pause();
      ctx.set('Connection', 'close');
      throw new PayloadTooLarge(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

// Invalid UTF-8 is refused, not replaced with U+FFFD: a mangled name must not be stored.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text; invalid UTF-8 is a 400 naming `what`. */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InvalidRequest(`${what} is not valid UTF-8`);
  }
}
