// URLs as they may appear in a log line: the query keeps the values of parameters known to be
// harmless (client_id, request_uri, scope, error ...) and masks every other value, so a `code`
// in a redirect, a token or assertion in a query string, or a parameter nobody thought of
// never reaches the logs. Fragments are dropped (implicit-style responses carry tokens there).

export const REDACTED = '[redacted]';

// Values safe to log: identifiers and protocol switches, nothing that authenticates or is
// personal. `request_uri` is a one-time reference bound to its client, useless to anyone else.
const SAFE_PARAMS = new Set([
  'client_id',
  'request_uri',
  'response_type',
  'response_mode',
  'scope',
  'prompt',
  'iss',
  'error',
  'ui_locales',
  'grant_type',
  'token_type_hint',
  'limit',
  'after_id',
  'since',
  'until',
  'type',
]);
const MAX_VALUE = 200;

/** The query string with unsafe values masked ('' when there is none). */
export function redactQuery(search: string): string {
  const query = search.startsWith('?') ? search.slice(1) : search;
  if (!query) return '';
  const params = new URLSearchParams(query);
  const out: string[] = [];
  for (const [name, value] of params) {
    const shown = SAFE_PARAMS.has(name) ? encodeURIComponent(value.slice(0, MAX_VALUE)) : REDACTED;
    out.push(`${encodeURIComponent(name.slice(0, MAX_VALUE))}=${shown}`);
  }
  return out.join('&');
}

/** A URL (absolute or a path) with its query redacted and its fragment removed. */
export function redactUrl(url: string): string {
  const hash = url.indexOf('#');
  const withoutFragment = hash === -1 ? url : url.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  if (question === -1) return withoutFragment;
  const query = redactQuery(withoutFragment.slice(question + 1));
  return query ? `${withoutFragment.slice(0, question)}?${query}` : withoutFragment.slice(0, question);
}
