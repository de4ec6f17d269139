// Structured JSON logs; credentials never reach them.
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

// Field names that hold a credential, a code or a signed request wherever they sit in a log
// object: at the top level or one level down (`{ body: { code } }`). Request logs never carry
// headers or bodies (observability/requests.ts); these names are the net under that rule.
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'password',
  'client_secret',
  'client_assertion',
  'assertion',
  'code',
  'code_verifier',
  'refresh_token',
  'access_token',
  'id_token',
  'token',
  'registration_access_token',
  'initial_access_token',
  'request',
  'dpop',
  'authorization',
  'cookie',
  'set-cookie',
]);

const CENSOR = '[redacted]';
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Error);

/** A copy of `object` with secret fields censored, made only when there is one to censor. */
function censored(object: Record<string, unknown>, depth: number): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    let replacement = value;
    if (SECRET_FIELDS.has(key.toLowerCase())) replacement = CENSOR;
    else if (depth > 0 && isPlainObject(value)) replacement = censored(value, depth - 1);
    if (replacement !== value) {
      copy ??= { ...object };
      copy[key] = replacement;
    }
  }
  return copy ?? object;
}

/**
 * Redaction by field name in a `formatters.log` hook rather than pino's wildcard paths
 * (`*.password`, ...): the same net, top level and one level down (`req.headers.cookie` is two
 * levels down and named explicitly), at a tenth of the CPU per line (docs/performance.md).
 */
export const redactSecrets = (object: Record<string, unknown>): Record<string, unknown> => {
  let out = censored(object, 1);
  for (const side of ['req', 'res']) {
    const message = out[side];
    if (!isPlainObject(message) || !isPlainObject(message.headers)) continue;
    const headers = censored(message.headers, 0);
    if (headers !== message.headers) out = { ...out, [side]: { ...message, headers } };
  }
  return out;
};

/** pino options shared by the server and the CLI. */
export function loggerOptions(level: string, service: string): LoggerOptions {
  return { level, formatters: { log: redactSecrets }, base: { service } };
}

/** A JSON logger on stdout, or on `destination` (tests capture the lines there). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = loggerOptions(level, 'portcullis');
  return destination ? pino(options, destination) : pino(options);
}
