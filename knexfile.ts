// knex CLI entry (`npx knex migrate:latest`); the server and `npm run migrate` use the same config.
import { parseConfig } from './src/config.ts';
import { knexConfig } from './src/db/database.ts';

export default knexConfig(parseConfig(process.env));
