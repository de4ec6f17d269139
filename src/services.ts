// Everything the server and the CLI share, built from the config and the database alone.
import type { Logger } from 'pino';
import { type AccountRegistry, createPostgresAccountDirectory } from './accounts/account-directory.ts';
import { type CustomerAuthentication, createCustomerAuthentication } from './accounts/customer-authentication.ts';
import { type CustomerStore, createCustomerStore } from './accounts/customers.ts';
import { createPasswordHasher, type PasswordHasher } from './accounts/passwords.ts';
import { type AdminKeyStore, createAdminKeyStore } from './admin/admin-keys.ts';
import type { Config } from './config.ts';
import { type ConsentService, createConsentService } from './consents/consent-service.ts';
import { type ConsentStore, createConsentStore } from './consents/consent-store.ts';
import { createDynamicLinking, type DynamicLinking } from './consents/dynamic-linking.ts';
import { type CacheBus, createCacheBus } from './db/cache-bus.ts';
import type { Database } from './db/database.ts';
import { createAdapterClass } from './oidc/adapter.ts';
import { type CaBundle, loadCaBundle } from './oidc/ca-bundle.ts';
import { type ClientStore, createClientStore } from './oidc/clients.ts';
import { createSigningKeyStore, KEYS_TOPIC, type SigningKeyStore } from './oidc/keys.ts';
import { createMtls, type Mtls } from './oidc/mtls.ts';
import { createProviderHolder, type ProviderHolder } from './oidc/provider.ts';
import { createResourceServerRegistry, type ResourceServerRegistry } from './oidc/resource-servers.ts';
import { sharedSecret } from './oidc/server-secrets.ts';
import { createTppCertificateStore, type TppCertificateStore } from './oidc/tpp-certificates.ts';
import { type AuditLog, createAuditLog } from './security/audit.ts';
import { cipherFromConfig, type FieldCipher } from './security/encryption.ts';
import { createIpBlockStore, type IpBlockStore } from './security/ip-blocks.ts';

export interface Services {
  config: Config;
  db: Database;
  logger: Logger;
  cipher: FieldCipher;
  clients: ClientStore;
  resourceServers: ResourceServerRegistry;
  keys: SigningKeyStore;
  adminKeys: AdminKeyStore;
  passwords: PasswordHasher;
  customers: CustomerStore;
  accounts: AccountRegistry;
  consents: ConsentStore;
  consentService: ConsentService;
  audit: AuditLog;
  /** Drops cached clients and resource servers in every process when one changes (LISTEN/NOTIFY). */
  cacheBus: CacheBus;
  /** Second factors, lockout, pending logins (PSD2 SCA). */
  authentication: CustomerAuthentication;
  /** PSD2 RTS Art. 5 authentication codes of payments. */
  dynamicLinking: DynamicLinking;
  /** Blocked addresses and ranges (incident response, anomaly detection). */
  ipBlocks: IpBlockStore;
  /** MTLS_CA_BUNDLE: the QTSPs whose certificates tls_client_auth accepts. */
  caBundle: CaBundle;
  /** RFC 8705 client certificates and the eIDAS identity in them (PSD2 RTS Art. 34). */
  mtls: Mtls;
  /** The TPP identity of each client's last QWAC, shown on the consent page. */
  tppCertificates: TppCertificateStore;
}

export function createServices(config: Config, db: Database, logger: Logger): Services {
  const { cipher, devKeyPath } = cipherFromConfig(config);
  if (devKeyPath) {
    logger.warn(
      { path: devKeyPath },
      '!!! ENCRYPTION_KEY is not set: using a generated DEVELOPMENT key from DATA_DIR. Never do this in production. !!!',
    );
  }
  const cacheBus = createCacheBus(db.knex, config.DATABASE_URL, logger);
  const clients = createClientStore(db.knex, config.CLIENT_CACHE_TTL_MS, cacheBus);
  const passwords = createPasswordHasher(config);
  const accounts = createPostgresAccountDirectory(db.knex, cipher);
  const consents = createConsentStore(db.knex, cipher);
  const audit = createAuditLog(db.knex, logger);
  const customers = createCustomerStore(db.knex, passwords);
  const dynamicLinking = createDynamicLinking(() => sharedSecret(db.knex, cipher, 'dynamic_linking_key'));
  const caBundle = loadCaBundle(config.MTLS_CA_BUNDLE);
  return {
    caBundle,
    mtls: createMtls(config, caBundle),
    tppCertificates: createTppCertificateStore(db.knex),
    config,
    db,
    logger,
    cipher,
    clients,
    resourceServers: createResourceServerRegistry(db.knex, clients, config.CLIENT_CACHE_TTL_MS, cacheBus),
    cacheBus,
    keys: createSigningKeyStore(db.knex, cipher, cacheBus),
    adminKeys: createAdminKeyStore(db.knex),
    passwords,
    customers,
    accounts,
    consents,
    consentService: createConsentService({
      consents,
      accounts,
      settings: {
        accountConsentDays: config.CONSENT_DAYS,
        paymentConsentSeconds: config.PAYMENT_CONSENT_SECONDS,
        pendingSeconds: config.INTERACTION_TTL,
      },
      logger,
      audit,
      dynamicLinking,
    }),
    audit,
    authentication: createCustomerAuthentication({ knex: db.knex, cipher, customers, audit, logger, config }),
    dynamicLinking,
    ipBlocks: createIpBlockStore(db.knex, audit, logger, config.IP_BLOCK_CACHE_TTL_MS),
  };
}

/** The oidc-provider instance (kept current across key rotations) over these services. */
export async function startProvider(services: Services): Promise<ProviderHolder> {
  const { config, db, cipher } = services;
  await services.keys.ensure(config.SIGNING_ALGS);
  const cookieKeys = [(await sharedSecret(db.knex, cipher, 'cookie_key_1')).toString('base64url')];
  const dpopNonceSecret = await sharedSecret(db.knex, cipher, 'dpop_nonce_secret');
  const holder = await createProviderHolder(
    {
      config,
      adapter: createAdapterClass({
        knex: db.knex,
        sql: db.sql,
        clients: services.clients,
        cipher,
        refreshReuseWindowSeconds: config.REFRESH_REUSE_WINDOW,
      }) as never,
      cookieKeys,
      dpopNonceSecret,
      resourceServers: services.resourceServers,
      consents: services.consents,
      dynamicLinking: services.dynamicLinking,
      mtls: services.mtls,
      certificates: services.tppCertificates,
      async findAccount(_ctx, sub) {
        const customer = await services.customers.findById(sub);
        if (!customer || customer.status === 'disabled') return undefined;
        return { accountId: customer.id, claims: async () => ({ sub: customer.id }) };
      },
    },
    services.keys,
    services.logger,
    services.audit,
  );
  // A rotation on any instance (or the CLI) is announced on the cache bus: reload at once. A
  // reconnected listener may have missed one, so it reloads too. The periodic reload stays the
  // backstop, and what picks up scheduled activations and retirements.
  const reload = () => {
    holder.refresh().catch((err) => services.logger.error({ err }, 'signing key reload failed'));
  };
  services.cacheBus.subscribe(KEYS_TOPIC, reload, reload);
  return holder;
}
