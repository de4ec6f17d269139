// JSON bodies for our own APIs (admin). oidc-provider parses its own bodies: no global parser.
import type { Context } from 'koa';
import { hasUncleanText } from './clean-text.ts';
import { InvalidRequest, UnsupportedMediaType } from './errors.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from './json-depth.ts';
import { decodeUtf8, readBodyBytes } from './read-body.ts';

export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  if (!ctx.is('application/json')) throw new UnsupportedMediaType();
  const text = decodeUtf8(await readBodyBytes(ctx, limit), 'request body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
  if (jsonTooDeep(value)) throw new InvalidRequest(`request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (hasUncleanText(value)) throw new InvalidRequest('request body must be Unicode text without NUL characters');
  return value;
}
