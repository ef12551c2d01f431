import type { Admin, Kafka } from 'kafkajs';

/**
 * Where a consumer group with no committed offsets begins: the cutover from a legacy worker (README
 * "Cutover from the legacy workers"). `earliest` reads a topic's whole history; `latest` only what
 * comes after the bridge first starts; a timestamp what was written at or after it; `group:<ids>`
 * what other groups (the legacy workers', stopped) had not committed yet: on each topic, the one of
 * them that committed on it.
 *
 * It applies once, to a group that has committed nothing on the topic. A group that has committed
 * resumes where it committed whatever this says, so a restart never skips what came in meanwhile.
 */
export type StartPosition =
  | { from: 'earliest' }
  | { from: 'latest' }
  | { from: 'timestamp'; at: Date }
  /** Where other groups (the legacy workers', one per topic) committed: the cutover runbook's way. */
  | { from: 'group'; groupIds: string[] };

export const startPositionHint =
  "'earliest', 'latest', an ISO-8601 timestamp such as 2026-12-01T00:00:00Z, or group:<consumer group>[,<consumer group>...] (where those groups committed)";

export function parseStartPosition(text: string): StartPosition | undefined {
  if (text === 'earliest' || text === 'latest') return { from: text };
  const groups = /^group:([^\s,]+(?:,[^\s,]+)*)$/.exec(text);
  if (groups) return { from: 'group', groupIds: groups[1]!.split(',') };
  // An ISO-8601 date-time with its zone: a bare date or a local time would mean different instants
  // on different machines.
  if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? undefined : { from: 'timestamp', at };
}

/**
 * Commits a new group's first offsets before its first member joins: at the end of each partition
 * (`latest`), at the first record written at or after the timestamp, or where the other group
 * committed. Committed, not just sought, so that a bridge stopped before it committed anything
 * starts there again. `earliest` needs nothing: the consumer starts from the beginning where
 * nothing is committed.
 */
export async function placeNewGroup(kafka: Kafka, groupId: string, topics: string[], position: StartPosition): Promise<void> {
  if (position.from === 'earliest') return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of topics) await placeTopic(admin, groupId, topic, position);
  } finally {
    await admin.disconnect();
  }
}

async function placeTopic(admin: Admin, groupId: string, topic: string, position: StartPosition): Promise<void> {
  // Only a group new to the topic is placed. One that committed anything has consumed it before,
  // and a partition it never committed (added since, or never written) starts from its beginning,
  // which skips nothing.
  const isNew = async () => {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (committed?.partitions ?? []).every((p) => Number(p.offset) < 0);
  };
  if (!(await isNew())) return;
  const partitions = await firstOffsets(admin, topic, position);
  if (!partitions.length) return;
  try {
    await admin.setOffsets({ groupId, topic, partitions });
  } catch (err) {
    // Another bridge process of the group placed it first and has joined (a group with members
    // refuses new offsets): what it committed is where this one starts too.
    if (await isNew()) throw err;
  }
}

async function firstOffsets(admin: Admin, topic: string, position: StartPosition) {
  switch (position.from) {
    case 'timestamp':
      return admin.fetchTopicOffsetsByTimestamp(topic, position.at.getTime());
    case 'group': {
      const legacy = await legacyOffsets(admin, topic, position.groupIds);
      if (!legacy) return [];
      // A group still consuming moves on after we copied it: whatever it then takes, both take.
      const [described] = (await admin.describeGroups([legacy.groupId])).groups;
      if (described && described.members.length > 0) {
        throw new Error(
          `BRIDGE_START_FROM=group:${legacy.groupId}: that group still has ${described.members.length} member(s) consuming; stop the legacy workers first`,
        );
      }
      // Only the partitions that group committed: on the others it consumed nothing, and this
      // group starts them from their beginning.
      return legacy.partitions;
    }
    default:
      return (await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => ({ partition, offset: high }));
  }
}

/** The committed offsets on `topic` of the one group of `groupIds` that has any; none if none has. */
async function legacyOffsets(admin: Admin, topic: string, groupIds: string[]) {
  const committed = [];
  for (const groupId of groupIds) {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const partitions = (offsets?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map(({ partition, offset }) => ({ partition, offset }));
    if (partitions.length) committed.push({ groupId, partitions });
  }
  if (committed.length > 1) {
    throw new Error(`BRIDGE_START_FROM: ${committed.map((c) => c.groupId).join(' and ')} all committed on ${topic}; name only the one whose place the bridge takes`);
  }
  return committed[0];
}
