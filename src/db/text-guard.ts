// PostgreSQL refuses NUL in text (and the `\u0000` escape in jsonb): such a value reached through
// any path (an OAuth parameter stored in a payload, a token looked up by id, a route parameter)
// used to end as a 500. Every query's bindings are checked before they are sent; a NUL becomes a
// 400 invalid_request, in the endpoint's own format: our error handler reads HttpError, and
// oidc-provider's reads `message`/`error_description`/`statusCode`/`expose`, which this error
// also carries (so an OAuth endpoint answers `{"error":"invalid_request"}`).
import type { Knex } from 'knex';
import { HttpError } from '../http/errors.ts';

export class UnstorableText extends HttpError {
  readonly statusCode = 400;
  readonly error_description: string;

  constructor() {
    super(400, 'invalid_request', 'request parameters must not contain NUL characters');
    this.error_description = this.description;
    // oidc-provider takes the error code from `message`.
    this.message = this.error;
  }
}

// A `\u0000` escape not itself escaped (`\\u0000` is the text "\u0000", which jsonb accepts).
const JSON_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

const unstorable = (value: unknown): boolean => {
  if (typeof value === 'string') return value.includes('\0') || (value.includes('\\u0000') && JSON_NUL.test(value));
  if (Array.isArray(value)) return value.some(unstorable);
  return false;
};

/** Throws UnstorableText when a query's values hold a NUL (for SQL sent outside knex). */
export function assertStorable(values: unknown[]): void {
  if (values.some(unstorable)) throw new UnstorableText();
}

/** Makes every query on this knex (and its transactions) refuse NUL characters in its bindings. */
export function guardText(knex: Knex): void {
  const client = knex.client as { prepBindings(bindings: unknown[]): unknown[] };
  const prep = client.prepBindings.bind(client);
  client.prepBindings = (bindings) => {
    if (bindings?.some(unstorable)) throw new UnstorableText();
    return prep(bindings);
  };
}
