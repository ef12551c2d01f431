import type { Pool } from 'pg';
import { createBookingActivities } from '../activities/booking';

export interface ActivityDependencies {
  db: Pool;
}

/** Every activity the workers register, built from real dependencies. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createBookingActivities(deps.db),
  };
}
