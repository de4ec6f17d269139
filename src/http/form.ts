// application/x-www-form-urlencoded bodies of our HTML forms (never in front of oidc-provider).
import type { Context } from 'koa';
import { bufferedBody } from './buffered-body.ts';
import { InvalidRequest } from './errors.ts';
import { decodeUtf8, readBodyBytes } from './read-body.ts';

const FORM_LIMIT = 16 * 1024;

/** The form's fields; a repeated field (e.g. checkboxes) becomes an array. */
export async function readForm(ctx: Context): Promise<Record<string, string | string[]>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new InvalidRequest('expected a form submission');
  // A middleware in front (the rate limiter) may have read the bytes already: see buffered-body.ts.
  const text = decodeUtf8(await readBodyBytes(ctx, FORM_LIMIT, bufferedBody(ctx)), 'the form');
  const fields: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const existing = fields[name];
    fields[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return fields;
}

/** A single-valued field as a string ('' when absent or repeated). */
export const field = (form: Record<string, string | string[]>, name: string): string => {
  const value = form[name];
  return typeof value === 'string' ? value : '';
};

/** A possibly repeated field as an array. */
export const fields = (form: Record<string, string | string[]>, name: string): string[] => {
  const value = form[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
};
