// A form body read once, before its handler, by a middleware that must see a field first (the rate
// limiter: which client, which username). The raw bytes are left in `ctx.request.body`, the
// contract oidc-provider already honours: its body parser (lib/shared/selective_body.js) reads
// `ctx.req.body || ctx.request.body` when the stream was consumed upstream, and parses a Buffer
// exactly as it parses the stream. readForm (form.ts) does the same, so every reader downstream
// sees the same bytes.
import type { Context } from 'koa';
import { readBodyBytes } from './read-body.ts';

// oidc-provider's own cap on form bodies (selective_body.js LIMIT): a longer one is refused there.
export const PROVIDER_FORM_LIMIT = 56 * 1024;

type WithBody = { body?: unknown };

/** The body an upstream middleware already read, if any. */
export function bufferedBody(ctx: Context): Buffer | undefined {
  const body = (ctx.request as WithBody).body;
  return !ctx.req.readable && Buffer.isBuffer(body) ? body : undefined;
}

/**
 * The fields of a urlencoded POST body, read at most once. Undefined when the request is not a
 * form POST, declares more than `limit` bytes or a charset other than UTF-8 (left unread for the
 * handler to deal with).
 */
export async function peekForm(ctx: Context, limit = PROVIDER_FORM_LIMIT): Promise<URLSearchParams | undefined> {
  if (ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded')) return undefined;
  const already = bufferedBody(ctx);
  if (already) return new URLSearchParams(already.toString('utf8'));
  if (!ctx.req.readable || Number(ctx.get('content-length') || 0) > limit) return undefined;
  // oidc-provider decodes a declared charset itself (and refuses an unknown one); the Buffer it gets
  // back from us would be read as UTF-8, so any other charset is left to it, unread.
  if (ctx.charset && !/^utf-?8$/i.test(ctx.charset)) return undefined;
  const body = await readBodyBytes(ctx, limit);
  (ctx.request as WithBody).body = body;
  return new URLSearchParams(body.toString('utf8'));
}
