import type { Pool } from 'pg';

/** One row of `codec_access_audit`: who asked what of the codec server, and what came of it. Never a payload. */
export interface AccessRecord {
  /** The signed-in operator, or the name a refused attempt claimed. */
  operator: string | undefined;
  authenticated: boolean;
  remoteAddress: string | undefined;
  namespace: string | undefined;
  route: string;
  payloads: number | undefined;
  outcome: string;
  httpStatus: number;
}

export type AccessAudit = (record: AccessRecord) => Promise<void>;

export function createAccessAudit(db: Pool): AccessAudit {
  return async (r) => {
    await db.query(
      `INSERT INTO codec_access_audit (operator, authenticated, remote_address, namespace, route, payloads, outcome, http_status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [r.operator ?? null, r.authenticated, r.remoteAddress ?? null, r.namespace ?? null, r.route, r.payloads ?? null, r.outcome, r.httpStatus],
    );
  };
}
