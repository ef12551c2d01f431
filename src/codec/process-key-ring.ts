import { logger } from '../logger';
import { KeyRingFile } from './key-ring';

const rings = new Map<string, KeyRingFile>();

/**
 * The process's key ring for `file`: read once at first use, and read again on every SIGHUP, so a
 * rotation's steps (`npm run rotate-payload-key`, then `npm run payload-key -- promote`) reach
 * workers, bridges, the payment API and the codec server without a restart. Every client and
 * worker of the process shares it, so one signal reloads them all. A ring that fails its checks
 * on reload is logged and ignored: the process keeps the ring it had.
 */
export function processKeyRing(file: string): KeyRingFile {
  let ring = rings.get(file);
  if (!ring) {
    ring = new KeyRingFile(file);
    rings.set(file, ring);
    reloadOnHangup(ring);
  }
  return ring;
}

export function reloadOnHangup(ring: KeyRingFile): void {
  process.on('SIGHUP', () => {
    try {
      const { currentKeyId, keys } = ring.reload();
      // Key IDs only, never keys.
      logger.info({ file: ring.file, currentKeyId, keyIds: [...keys.keys()] }, 'Payload key ring read again (SIGHUP)');
    } catch (err) {
      logger.error({ file: ring.file, err: (err as Error).message, currentKeyId: ring.currentKeyId }, 'Payload key ring not read again; keeping the one it had');
    }
  });
}
