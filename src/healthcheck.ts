/**
 * `node dist/healthcheck.js URL...`: docker-compose.yml's health checks, from inside the container
 * (the images have node, no curl). Healthy when every URL answers 2xx within 4 s: a process with
 * several ports (the partner stand-ins) is healthy only when all of them serve.
 */
async function check(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(4_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}

Promise.all(process.argv.slice(2).map(check)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
