import type { Redis } from 'ioredis';
import { activityLogger } from '../logger';

/** The student's cached pages that a new purchase makes stale. */
export const studentCacheKeys = (studentId: string): string[] => [
  `student:home:${studentId}`,
  `student:learning:${studentId}`,
];

export function createCacheActivities(redis: Redis) {
  return {
    /** Deleting keys that are already gone is fine, so a retry is harmless. Returns how many existed. */
    async invalidateStudentCaches(studentId: string): Promise<number> {
      const deleted = await redis.del(...studentCacheKeys(studentId));
      activityLogger({ activity: 'invalidateStudentCaches', studentId }).info({ deleted }, 'Student caches invalidated');
      return deleted;
    },
  };
}

export type CacheActivities = ReturnType<typeof createCacheActivities>;
