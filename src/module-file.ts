import path from 'node:path';

/**
 * The file of one of our modules, for what loads it by path (the SDK's workflow bundler, its
 * converter loader): the `.ts` source where the code runs from source (tsx, vitest), the compiled
 * `.js` where it runs from dist/, as this module itself does.
 */
const extension = path.extname(__filename);

export const moduleFile = (...segments: string[]): string => `${path.join(...segments)}${extension}`;
