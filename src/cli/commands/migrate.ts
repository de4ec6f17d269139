// `portcullis migrate`: applies pending database migrations (the same ones the server runs).
import { migrateLatest } from '../../db/database.ts';
import type { CommandSpec } from '../command.ts';

export const migrate: CommandSpec = {
  name: 'migrate',
  summary: 'Apply pending database migrations and print the names applied.',
  usage: '[--json]',
  details: ['Uses DATABASE_URL (PostgreSQL) or, when unset, the embedded database in DATA_DIR.'],
  async run(_args, ctx, out) {
    const db = ctx.database();
    const applied = await migrateLatest(db.knex);
    out.emit(
      { database: db.kind, applied },
      applied.length
        ? [`Applied ${applied.length} migration(s) to ${db.kind}:`, ...applied.map((name) => `  ${name}`)]
        : [`${db.kind} database is up to date; nothing to apply.`],
    );
  },
};
