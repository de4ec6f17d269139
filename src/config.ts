// The one schema for every setting. Each entry: environment variable, default, one-line doc.
// `loadConfig()` validates process.env at start-up; a bad value stops the process with the
// variable's name and the reason (see `ConfigError`).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { thresholdProblems } from './security/anomalies/rules.ts';
import { allowedHostProblems } from './security/outbound-fetch.ts';
import { failClosedProblems, overrideProblems } from './security/rate-limit/overrides.ts';
import { trustedProxyProblems } from './security/trusted-proxies.ts';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** A list setting whose entries `problems` checks (each problem becomes an issue naming the variable). */
const checkedList = (problems: (text: string) => string[]) =>
  z
    .string()
    .default('')
    .superRefine((text, ctx) => {
      for (const message of problems(text)) ctx.addIssue({ code: 'custom', message });
    });

const SIGNING_ALGS = ['ES256', 'PS256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** Documentation for each variable, rendered into docs/configuration.md by a test. */
export const configDocs: Record<string, string> = {
  NODE_ENV: '`development` (demo data, generated dev encryption key), `test`, or `production` (refuses unsafe settings).',
  HOST: 'Interface the public listener binds to.',
  PORT: 'Port of the public listener (OAuth/OIDC endpoints, pages, and the admin API unless ADMIN_PORT is set).',
  ADMIN_PORT: 'When set, the admin API listens on this separate port instead of the public one.',
  ADMIN_HOST: 'Interface the admin listener binds to (keep it internal).',
  ISSUER: 'Issuer identifier, the public base URL. Must be https in production. Defaults to http://localhost:PORT.',
  DATABASE_URL: 'PostgreSQL connection string. When unset, the embedded PGlite database in DATA_DIR is used.',
  DATABASE_POOL_MAX:
    'Maximum PostgreSQL connections per process, in each of its two pools (the token store, which uses prepared statements, and everything else).',
  DATA_DIR: 'Folder for the embedded database and, in development, the generated encryption key.',
  MIGRATE_ON_START: 'Run pending database migrations when the server starts.',
  ENCRYPTION_KEY:
    'Base64 (or base64url) of 32 random bytes: AES-256-GCM key for signing keys, other secrets and personal data (IBANs, names, amounts) at rest. Required in production.',
  ENCRYPTION_KEY_ID: 'Identifier stored with every encrypted value, so the key can be rotated.',
  ENCRYPTION_KEYS_PREVIOUS: 'Comma-separated `id:base64key` pairs of retired keys, still used to decrypt older values.',
  SIGNING_ALGS: 'Comma-separated signing algorithms (PS256, ES256, EdDSA); one key per algorithm; the first is the default.',
  KEY_REFRESH_SECONDS: 'How often each instance reloads the signing keys from the database (rotation without restart).',
  ACCESS_TOKEN_TTL: 'Access token lifetime in seconds (FAPI: short-lived; capped at 3600).',
  ID_TOKEN_TTL: 'ID token lifetime in seconds.',
  REFRESH_TOKEN_TTL: 'Refresh token lifetime in seconds (bounded by the grant / consent validity).',
  GRANT_TTL: 'Upper bound for a grant (and so for its refresh tokens) in seconds.',
  SESSION_TTL: 'Browser session lifetime in seconds.',
  INTERACTION_TTL: 'How long a login/consent interaction may take, in seconds.',
  DEFAULT_RESOURCE: 'Resource indicator used when a client names none (a registered resource server).',
  CONSENT_DAYS: 'Longest validity of an account-information consent, in days (PSD2 RTS Art. 10: SCA again after 180).',
  PAYMENT_CONSENT_SECONDS: 'How long an authorised payment consent may wait for its payment to execute.',
  SCA_REAUTH_DAYS:
    'Account information through a TPP needs SCA again once the last SCA behind its consents is this many days old (PSD2 RTS Art. 10: at most 180).',
  RECOVERY_FACTOR_HOLD_HOURS:
    'A second factor added in a dashboard session opened with a recovery code signs in at once but confirms payments and TPP access only after this many hours.',
  NOTIFY_WEBHOOK_URL:
    'Customer security alerts (a lockout, a factor held after a recovery sign-in) are POSTed here as JSON besides being logged; https in production. Unset: log only.',
  REFRESH_REUSE_WINDOW: 'Seconds a rotated refresh token still works (FAPI 2.0 retry); a use after that revokes the grant.',
  CLIENT_CACHE_TTL_MS: 'How long a client lookup is cached in memory (invalidated at once on a local change).',
  JANITOR_INTERVAL_SECONDS: 'How often expired rows are deleted (0 disables the janitor).',
  JANITOR_BATCH_SIZE: 'Rows deleted per janitor statement, so no sweep holds long locks.',
  TOKEN_RETENTION_GRACE_SECONDS:
    'Expired tokens, codes, sessions and interactions are deleted by the janitor this many seconds after they expire (0: at the next sweep). They are invisible to the protocol from their expiry either way.',
  AUDIT_RETENTION_DAYS:
    'Audit rows older than this many days are deleted by the janitor, oldest first, leaving a verifiable anchor (0: kept forever, never deleted).',
  CONSENT_RETENTION_DAYS:
    'Ended consents (rejected, revoked, expired, consumed) are deleted this many days after they ended (0: kept forever).',
  DEMO_DATA: 'Seed a demo TPP, resource server and customer at start-up (refused in production).',
  DPOP_REQUIRE_NONCE: 'Require server-provided DPoP nonces (RFC 9449 section 8).',
  TLS_CERT:
    'Path of a PEM certificate chain: with TLS_KEY, Portcullis serves HTTPS itself (TLS 1.2 minimum, 1.3 preferred, BCP 195 suites on 1.2, HSTS).',
  TLS_KEY: 'Path of the PEM private key of TLS_CERT.',
  MTLS_PORT:
    'When set (with TLS_CERT/TLS_KEY), a second HTTPS listener asks every client for a certificate (RFC 8705) and serves the token, PAR, introspection, revocation and userinfo endpoints.',
  MTLS_HOST: 'Interface the mTLS listener binds to.',
  MTLS_BASE_URL:
    'Public https base URL of the mTLS endpoints, advertised as `mtls_endpoint_aliases` in discovery. Defaults to the ISSUER host on MTLS_PORT; set it when a proxy terminates mTLS (then MTLS_PORT may stay unset).',
  MTLS_CA_BUNDLE:
    'Path of the PEM CA certificates (eIDAS QTSP roots and intermediates) that `tls_client_auth` certificates must chain to. Unset: `tls_client_auth` is refused.',
  QWAC_REQUIRED:
    "PSD2 RTS Art. 34: a `tls_client_auth` certificate must be a QWAC carrying the ETSI TS 119 495 PSD2 QCStatement (roles, NCA), and registration needs the TPP's organisation id.",
  TRUSTED_PROXIES:
    'Comma-separated addresses or CIDRs (IPv4/IPv6; `loopback` and `private` name the usual ranges) of the proxies in front. Only from them are X-Forwarded-For/Proto/Host and CLIENT_CERT_HEADER believed; from anywhere else they are removed before anything reads them.',
  TRUST_PROXY:
    'Deprecated: `true` equals TRUSTED_PROXIES=loopback (a proxy on the same host). Ignored when TRUSTED_PROXIES is set.',
  TRUST_PROXY_HOPS:
    'How many trusted proxies may append to X-Forwarded-For: the client address is the first entry from the right that is not a trusted proxy, looking at most this many entries back.',
  CLIENT_CERT_HEADER:
    'Header in which a trusted proxy forwards the client certificate it verified in the TLS handshake (nginx: `X-SSL-Client-Cert: $ssl_client_escaped_cert`; Envoy: `x-forwarded-client-cert`). Unset: forwarded certificates are never used.',
  CLIENT_CERT_ENCODING:
    '`pem-urlencoded` (nginx `$ssl_client_escaped_cert`) or `xfcc` (Envoy `x-forwarded-client-cert`, its `Cert="..."` element, URL-encoded PEM).',
  RATE_LIMIT_STORE:
    'Where rate-limit counters live: `auto` (Redis when REDIS_URL is set, else PostgreSQL with DATABASE_URL, else this process), `memory`, `postgres` or `redis`. See docs/rate-limits.md.',
  REDIS_URL: 'redis:// or rediss:// URL of a Redis all instances share for rate-limit counters.',
  RATE_LIMIT_KEY_PREFIX: 'Prefix of every rate-limit counter key (lets deployments or test runs share one Redis).',
  RATE_LIMIT_MULTIPLIER:
    'Scales every default limit of docs/rate-limits.md (2 for a bank twice the size); RATE_LIMITS entries are not scaled.',
  RATE_LIMITS:
    'Exact limits, comma-separated `family.dimension[.tier]=points[/seconds][+burst]`, e.g. `login.ip=50,token.client.partner=1200/60` (docs/rate-limits.md).',
  RATE_LIMIT_FAIL_CLOSED:
    'Endpoint families refused (503) while the counter store is unreachable, comma-separated, or `none`. Unset: `token,login`; the others count in memory meanwhile.',
  RATE_LIMIT_STORE_TIMEOUT_MS: 'A counter store slower than this counts as unreachable for that request.',
  IP_BLOCK_CACHE_TTL_MS:
    'How long each instance caches the blocked addresses (a block made on another instance applies here within this time).',
  ANOMALY_BLOCK_MINUTES:
    'Minutes an address is blocked when an anomaly rule names it (login failures, credential stuffing); 0 only raises the alert.',
  ANOMALY_THRESHOLDS:
    'Adjusts the anomaly rules of docs/rate-limits.md, comma-separated `rule=threshold[/seconds]`, e.g. `credential_stuffing=20`.',
  ANOMALY_WEBHOOK_URL:
    'Anomalies are POSTed here as JSON (a SIEM or chat hook); https in production. Unset: audit log and metrics only.',
  OUTBOUND_FETCH_ALLOWED_HOSTS:
    'Comma-separated hosts (`keys.tpp.example`, or `*.tpp.example` for its subdomains) whose https URLs the server may fetch: a client `jwks_uri` must be on one. Unset: no server-side fetches, clients register `jwks` by value (OWASP API7).',
  OUTBOUND_FETCH_TIMEOUT_MS: 'How long a server-side fetch (a client `jwks_uri`) may take before it is abandoned.',
  OUTBOUND_FETCH_MAX_BYTES: 'Largest response body a server-side fetch reads (a JWKS); larger ones are refused.',
  OUTBOUND_FETCH_ALLOW_PRIVATE:
    'Let server-side fetches reach loopback, private and other special-use addresses (development only; refused in production).',
  BODY_LIMIT_BYTES:
    'Maximum request body size of every endpoint (413 above it); oidc-provider endpoints also stop at their own 56 KiB.',
  ARGON2_MEMORY_KIB: 'argon2id memory cost in KiB (OWASP: 19456).',
  ARGON2_TIME_COST: 'argon2id iterations (OWASP: 2).',
  ARGON2_PARALLELISM: 'argon2id lanes (OWASP: 1).',
  ARGON2_MAX_CONCURRENCY:
    'Password hashes computed at once by the whole server (cluster workers borrow from one allowance held by the primary); the rest wait, so signing and serving keep a core. Unset: every core but one, at least 1.',
  WEB_CONCURRENCY:
    'Worker processes (node:cluster) serving requests; 1 runs in one process, 0 means one per CPU core. Migrations and first-start keys run once, in the primary, before the workers start.',
  UV_THREADPOOL_SIZE:
    "Threads of Node's libuv pool, read by Node itself at start-up: argon2 hashing and WebCrypto signing share them. Keep it above ARGON2_MAX_CONCURRENCY so signing never queues behind hashing (unset: 4; cluster workers get ARGON2_MAX_CONCURRENCY + 4).",
  LOG_LEVEL: 'pino log level (fatal, error, warn, info, debug, trace, silent).',
  SHUTDOWN_TIMEOUT_MS: 'How long SIGTERM waits for in-flight requests before closing.',
};

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(3000, 0, 65535),
    ADMIN_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
    ISSUER: z.url({ protocol: /^https?$/ }).optional(),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    DATABASE_POOL_MAX: int(10, 1, 200),
    DATA_DIR: z.string().min(1).default('./data'),
    MIGRATE_ON_START: bool(true),
    ENCRYPTION_KEY: z.string().optional(),
    ENCRYPTION_KEY_ID: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32')
      .default('k1'),
    ENCRYPTION_KEYS_PREVIOUS: z.string().default(''),
    SIGNING_ALGS: z
      .string()
      .default('ES256,PS256,EdDSA')
      .transform((s) => s.split(',').map((a) => a.trim()))
      .pipe(z.array(z.enum(SIGNING_ALGS)).min(1, 'at least one algorithm')),
    KEY_REFRESH_SECONDS: int(5, 1, 3600),
    // FAPI 2.0 SP 5.3.2.1: short-lived access tokens; an hour is the ceiling we allow.
    ACCESS_TOKEN_TTL: int(300, 30, 3600),
    ID_TOKEN_TTL: int(300, 30, 3600),
    REFRESH_TOKEN_TTL: int(90 * 24 * 3600, 60, 400 * 24 * 3600),
    GRANT_TTL: int(90 * 24 * 3600, 60, 400 * 24 * 3600),
    SESSION_TTL: int(3600, 60, 30 * 24 * 3600),
    INTERACTION_TTL: int(600, 60, 3600),
    DEFAULT_RESOURCE: z.url().optional(),
    CONSENT_DAYS: int(90, 1, 180),
    PAYMENT_CONSENT_SECONDS: int(600, 60, 86_400),
    SCA_REAUTH_DAYS: int(180, 1, 180),
    // PSD2 RTS Art. 4, 7: never 0, or a recovery code would be a payment's possession factor one step removed.
    RECOVERY_FACTOR_HOLD_HOURS: int(24, 1, 30 * 24),
    NOTIFY_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
    REFRESH_REUSE_WINDOW: int(60, 0, 600),
    CLIENT_CACHE_TTL_MS: int(5000, 0, 600_000),
    JANITOR_INTERVAL_SECONDS: int(60, 0, 86_400),
    JANITOR_BATCH_SIZE: int(1000, 1, 100_000),
    TOKEN_RETENTION_GRACE_SECONDS: int(0, 0, 90 * 86_400),
    AUDIT_RETENTION_DAYS: int(0, 0, 100 * 365),
    CONSENT_RETENTION_DAYS: int(0, 0, 100 * 365),
    DEMO_DATA: bool(false),
    DPOP_REQUIRE_NONCE: bool(false),
    TLS_CERT: z.string().optional(),
    TLS_KEY: z.string().optional(),
    MTLS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    MTLS_HOST: z.string().min(1).default('127.0.0.1'),
    MTLS_BASE_URL: z.url({ protocol: /^https$/, error: 'must be an https URL' }).optional(),
    MTLS_CA_BUNDLE: z.string().optional(),
    QWAC_REQUIRED: bool(true),
    TRUSTED_PROXIES: checkedList(trustedProxyProblems),
    TRUST_PROXY: bool(false),
    TRUST_PROXY_HOPS: int(1, 1, 10),
    CLIENT_CERT_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name: letters, digits and -')
      .transform((name) => name.toLowerCase())
      .optional(),
    CLIENT_CERT_ENCODING: z.enum(['pem-urlencoded', 'xfcc']).default('pem-urlencoded'),
    RATE_LIMIT_STORE: z.enum(['auto', 'memory', 'postgres', 'redis']).default('auto'),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    RATE_LIMIT_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, :, _ or -, at most 64')
      .default('portcullis:rl'),
    RATE_LIMIT_MULTIPLIER: z.coerce.number().min(0.01).max(1000).default(1),
    RATE_LIMITS: checkedList(overrideProblems),
    RATE_LIMIT_FAIL_CLOSED: checkedList(failClosedProblems),
    RATE_LIMIT_STORE_TIMEOUT_MS: int(500, 10, 10_000),
    IP_BLOCK_CACHE_TTL_MS: int(5000, 0, 600_000),
    ANOMALY_BLOCK_MINUTES: int(0, 0, 7 * 24 * 60),
    ANOMALY_THRESHOLDS: checkedList(thresholdProblems),
    ANOMALY_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
    OUTBOUND_FETCH_ALLOWED_HOSTS: checkedList(allowedHostProblems),
    OUTBOUND_FETCH_TIMEOUT_MS: int(2000, 100, 10_000),
    OUTBOUND_FETCH_MAX_BYTES: int(32 * 1024, 1024, 1024 * 1024),
    OUTBOUND_FETCH_ALLOW_PRIVATE: bool(false),
    BODY_LIMIT_BYTES: int(64 * 1024, 1024, 10 * 1024 * 1024),
    ARGON2_MEMORY_KIB: int(19456, 8192, 1024 * 1024),
    ARGON2_TIME_COST: int(2, 1, 20),
    ARGON2_PARALLELISM: int(1, 1, 16),
    ARGON2_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
    WEB_CONCURRENCY: int(1, 0, 64),
    UV_THREADPOOL_SIZE: z.coerce.number().int().min(1).max(1024).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 120_000),
  })
  .strip();

type RawConfig = z.infer<typeof configSchema>;

export type Config = Omit<RawConfig, 'ISSUER' | 'MTLS_BASE_URL'> & {
  ISSUER: string;
  /** Where the mTLS aliases live (resolved from MTLS_PORT when not set); undefined: no aliases. */
  MTLS_BASE_URL?: string;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Checks that NODE_ENV=production refuses (FAPI 2.0 SP 5.2.2: TLS; BRIEF data protection). */
function productionProblems(c: Config): string[] {
  const problems: string[] = [];
  if (!c.ISSUER.startsWith('https://')) problems.push('ISSUER: must be an https URL in production');
  if (!c.ENCRYPTION_KEY) problems.push('ENCRYPTION_KEY: is required in production');
  if (c.DEMO_DATA) problems.push('DEMO_DATA: demo data is refused in production');
  if (c.OUTBOUND_FETCH_ALLOW_PRIVATE) {
    problems.push('OUTBOUND_FETCH_ALLOW_PRIVATE: server-side fetches to private addresses are refused in production');
  }
  if (c.ANOMALY_WEBHOOK_URL && !c.ANOMALY_WEBHOOK_URL.startsWith('https://')) {
    problems.push('ANOMALY_WEBHOOK_URL: must be an https URL in production');
  }
  if (c.NOTIFY_WEBHOOK_URL && !c.NOTIFY_WEBHOOK_URL.startsWith('https://')) {
    problems.push('NOTIFY_WEBHOOK_URL: must be an https URL in production');
  }
  return problems;
}

/** TLS files exist and come in pairs; an mTLS listener needs a server certificate. */
function tlsSettingProblems(c: Config): string[] {
  const problems: string[] = [];
  if ((c.TLS_CERT === undefined) !== (c.TLS_KEY === undefined)) problems.push('TLS_CERT: TLS_CERT and TLS_KEY are set together');
  for (const name of ['TLS_CERT', 'TLS_KEY', 'MTLS_CA_BUNDLE'] as const) {
    const path = c[name];
    if (path !== undefined && !existsSync(path)) problems.push(`${name}: no file at ${path}`);
  }
  if (c.MTLS_PORT !== undefined && c.TLS_CERT === undefined)
    problems.push('MTLS_PORT: the mTLS listener needs TLS_CERT and TLS_KEY');
  return problems;
}

/** Parses an environment into a Config or throws ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "unset", as shells and compose files produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  if (cleaned.DEMO_DATA === undefined && (cleaned.NODE_ENV ?? 'development') === 'development') {
    cleaned.DEMO_DATA = 'true';
  }
  const result = configSchema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const raw = result.data;
  const issuer = (raw.ISSUER ?? `http://localhost:${raw.PORT}`).replace(/\/$/, '');
  const { MTLS_BASE_URL: mtlsBase, ...rest } = raw;
  const mtlsBaseUrl =
    mtlsBase ?? (raw.MTLS_PORT !== undefined ? `https://${new URL(issuer).hostname}:${raw.MTLS_PORT}` : undefined);
  const config: Config = {
    ...rest,
    ISSUER: issuer,
    ...(mtlsBaseUrl ? { MTLS_BASE_URL: mtlsBaseUrl.replace(/\/$/, '') } : {}),
  };
  const tlsProblems = tlsSettingProblems(config);
  if (tlsProblems.length) throw new ConfigError(`Invalid configuration:\n  ${tlsProblems.join('\n  ')}`);
  if (config.ENCRYPTION_KEY !== undefined && decodeKey(config.ENCRYPTION_KEY) === undefined) {
    throw new ConfigError('Invalid configuration:\n  ENCRYPTION_KEY: must be base64 of exactly 32 bytes');
  }
  // The embedded PGlite database lives in one process: workers would each open the same folder.
  if (config.WEB_CONCURRENCY !== 1 && !config.DATABASE_URL && (config.WEB_CONCURRENCY > 1 || availableParallelism() > 1)) {
    throw new ConfigError('Invalid configuration:\n  WEB_CONCURRENCY: more than one worker needs DATABASE_URL (PostgreSQL)');
  }
  if (config.NODE_ENV === 'production') {
    const problems = productionProblems(config);
    if (problems.length) throw new ConfigError(`Unsafe configuration for production:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

/** Decodes a base64/base64url 256-bit key; undefined when it is not exactly 32 bytes. */
export function decodeKey(text: string): Buffer | undefined {
  const bytes = Buffer.from(text.trim(), 'base64');
  return bytes.length === 32 ? bytes : undefined;
}

export function loadConfig(): Config {
  return parseConfig(process.env);
}
