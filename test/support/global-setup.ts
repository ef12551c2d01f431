import { loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { migrate } from '../../src/migrate';

/** The schema must exist before any integration test; migrate is idempotent. */
export default async function setup(): Promise<void> {
  const pool = createPool(loadConfig());
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
}
