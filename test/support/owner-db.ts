import type { Pool } from 'pg';
import { asOwner, type Config } from '../../src/config';
import { createPool } from '../../src/connections';

/**
 * A pool connected as the owner role, for what the application role may not do and a test must:
 * apply the migrations, add a trigger, clean up rows. Everything a test checks runs as the
 * application role (`RealStack.db`), as the processes do.
 */
export function createOwnerPool(config: Config, max = 2): Pool {
  return createPool(asOwner(config), { max });
}
