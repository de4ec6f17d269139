// Cached clients and resource servers across processes (cluster workers, instances): a change
// made through one process's store reaches every other process's cache through PostgreSQL
// LISTEN/NOTIFY, long before the cache's TTL would end it. Two stores on two connections stand
// for two processes. PostgreSQL only (PGlite serves one process).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CacheBus, createCacheBus } from '../src/db/cache-bus.ts';
import { createDatabase, type Database, migrateLatest } from '../src/db/database.ts';
import { createLogger } from '../src/logger.ts';
import { type ClientStore, createClientStore } from '../src/oidc/clients.ts';
import { createResourceServerRegistry, type ResourceServerRegistry } from '../src/oidc/resource-servers.ts';
import { createTestDatabase, type TestDatabase, testDatabaseKind } from './support/database.ts';

// Far longer than any test waits: only an invalidation message can end a cached entry.
const TTL_MS = 10 * 60_000;

/** Polls until `check` holds (the message is asynchronous), failing after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail('the change did not reach the other process in time');
    await sleep(20);
  }
}

describe('cache invalidation across processes (LISTEN/NOTIFY)', {
  skip: testDatabaseKind() === 'pglite' && 'PostgreSQL only',
}, () => {
  let database: TestDatabase;
  const dbs: Database[] = [];
  const buses: CacheBus[] = [];
  let writer: { clients: ClientStore; resourceServers: ResourceServerRegistry };
  let reader: { clients: ClientStore; resourceServers: ResourceServerRegistry };

  const aProcess = async (listen: boolean) => {
    const db = createDatabase({ DATABASE_URL: database.url, DATABASE_POOL_MAX: 4, DATA_DIR: database.dataDir });
    const bus = createCacheBus(db.knex, database.url, createLogger('silent'));
    if (listen) await bus.listen();
    dbs.push(db);
    buses.push(bus);
    const clients = createClientStore(db.knex, TTL_MS, bus);
    return { clients, resourceServers: createResourceServerRegistry(db.knex, clients, TTL_MS, bus) };
  };

  before(async () => {
    database = await createTestDatabase();
    const db = createDatabase({ DATABASE_URL: database.url, DATABASE_POOL_MAX: 2, DATA_DIR: database.dataDir });
    await migrateLatest(db.knex);
    await db.close();
    writer = await aProcess(false);
    reader = await aProcess(true);
  });
  after(async () => {
    for (const bus of buses) await bus.close();
    for (const db of dbs) await db.close();
    await database.drop();
  });

  test("a client suspended in one process is unknown to the other's cache at once", async () => {
    const clientId = `c-${randomUUID()}`;
    await writer.clients.create({ client_id: clientId, client_name: 'Cached Fintech' });
    assert.equal((await reader.clients.findForProvider(clientId))?.client_id, clientId); // now cached
    await writer.clients.setStatus(clientId, 'suspended');
    await eventually(async () => (await reader.clients.findForProvider(clientId)) === undefined);
  });

  test("a client's new metadata replaces the other process's cached copy", async () => {
    const clientId = `c-${randomUUID()}`;
    await writer.clients.create({ client_id: clientId, client_name: 'Before' });
    assert.equal((await reader.clients.findForProvider(clientId))?.client_name, 'Before');
    await writer.clients.update(clientId, { metadata: { client_id: clientId, client_name: 'After' } });
    await eventually(async () => (await reader.clients.findForProvider(clientId))?.client_name === 'After');
  });

  test("a resource server removed in one process is gone from the other's cache", async () => {
    const resource = `https://rs-${randomUUID()}.bank.example/api`;
    const { resourceServer } = await writer.resourceServers.create({
      resource,
      name: 'Cached API',
      scopes: ['accounts'],
      access_token_format: 'opaque',
      auth: { method: 'client_secret_basic' },
    });
    assert.equal((await reader.resourceServers.findByResource(resource))?.id, resourceServer.id);
    assert.equal((await reader.clients.findForProvider(resourceServer.client_id))?.client_id, resourceServer.client_id);
    await writer.resourceServers.remove(resourceServer.id);
    await eventually(async () => (await reader.resourceServers.findByResource(resource)) === undefined);
    await eventually(async () => (await reader.clients.findForProvider(resourceServer.client_id)) === undefined);
  });

  test('a resource server created in one process is found by the other after a cached miss', async () => {
    const resource = `https://rs-${randomUUID()}.bank.example/api`;
    assert.equal(await reader.resourceServers.findByResource(resource), undefined); // a cached miss
    await writer.resourceServers.create({
      resource,
      name: 'New API',
      scopes: ['accounts'],
      access_token_format: 'opaque',
      auth: { method: 'client_secret_basic' },
    });
    await eventually(async () => (await reader.resourceServers.findByResource(resource))?.resource === resource);
  });
});
