import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Pool } from 'pg';
import { asOwner, databaseRoles, loadConfig } from './config';
import { postgresConnectionOptions } from './connection-options';
import { logger } from './logger';

const migrationsDir = path.resolve(__dirname, '..', 'migrations');

/**
 * Applies every migrations/*.sql file not applied yet, in name order, each in its own
 * transaction. An advisory lock lets several processes call this at once. `pool` connects as the
 * owner role (`asOwner(config)`), which the tables must belong to.
 */
export async function migrate(pool: Pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    // As the application role, the statements below would create every table anew in that role's
    // own schema (first on its search_path), where its processes would then read and write them.
    const { rows } = await client.query<{ role: string; mayCreate: boolean }>(
      `SELECT current_user AS role, has_schema_privilege('public', 'CREATE') AS "mayCreate"`,
    );
    if (!rows[0]!.mayCreate) {
      throw new Error(
        `migrations run as the owner role (MIGRATION_DATABASE_URL, ${databaseRoles.owner}), not as ${rows[0]!.role}, which may not create tables in the public schema`,
      );
    }
    await client.query('SELECT pg_advisory_lock(727274)');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const applied = new Set(
      (await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
    );
    const files = (await readdir(migrationsDir)).filter((f) => f.endsWith('.sql')).sort();
    const newlyApplied: string[] = [];
    for (const file of files.filter((f) => !applied.has(f))) {
      const sql = await readFile(path.join(migrationsDir, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`Migration ${file} failed: ${(err as Error).message}`);
      }
      newlyApplied.push(file);
    }
    return newlyApplied;
  } finally {
    await client.query('SELECT pg_advisory_unlock(727274)').catch(() => undefined);
    client.release();
  }
}

if (require.main === module) {
  const pool = new Pool(postgresConnectionOptions(asOwner(loadConfig())));
  migrate(pool)
    .then((applied) => logger.info({ applied }, applied.length ? 'Migrations applied' : 'Schema up to date'))
    .catch((err) => {
      logger.error({ err }, 'Migration failed');
      process.exitCode = 1;
    })
    .finally(() => pool.end());
}
