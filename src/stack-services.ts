/**
 * Every port the local stack serves, in one list. The stack scripts export their variables from it
 * (scripts/stack/services.ts, evaluated by scripts/stack/lib.sh and scripts/isolated-stack.sh), the
 * stack starts each node process named in it, src/config.ts takes its address defaults from it, and
 * docker-compose.yml is checked against it. A new stand-in is one entry here plus its entry file.
 */

/** Where the local stack listens, and so where the config defaults point. */
export const STACK_HOST = '127.0.0.1';

export interface StackService {
  /** The port's name in the stack's logs and `status` lines. */
  readonly name: string;
  /** The process that serves it: the stack's component or node process, and the docker-compose service. */
  readonly server: string;
  /** The variable the stack reads the port from, and its default. */
  readonly portVariable: string;
  readonly defaultPort: number;
  /** The variable clients find the service by, and its value for a host and port. */
  readonly urlVariable?: string;
  readonly url?: (host: string, port: number) => string;
  /** For the stack's own node processes: what `node --import tsx` runs. */
  readonly entry?: string;
  /** For the stack's own node processes: the path that answers 200 on each of its ports once it serves. */
  readonly healthPath?: string;
  /** Ports just above this one that the service takes too, which an isolated stack must leave free. */
  readonly reservedAbove?: number;
}

const http = (host: string, port: number) => `http://${host}:${port}`;
const partnerServices = 'stand-ins/partner-services/main.ts';

export const stackServices = [
  {
    name: 'temporal',
    server: 'temporal',
    portVariable: 'TEMPORAL_PORT',
    defaultPort: 7233,
    urlVariable: 'TEMPORAL_ADDRESS',
    url: (host, port) => `${host}:${port}`,
    // Temporal's own server (STACK_TEMPORAL_PROFILE=server) puts its internal services on +1 to +14.
    reservedAbove: 14,
  },
  { name: 'temporal-ui', server: 'temporal', portVariable: 'TEMPORAL_UI_PORT', defaultPort: 8233, urlVariable: 'TEMPORAL_UI_URL', url: http },
  {
    name: 'kafka',
    server: 'kafka',
    portVariable: 'KAFKA_PORT',
    defaultPort: 9092,
    urlVariable: 'KAFKA_BROKERS',
    url: (host, port) => `${host}:${port}`,
  },
  // Only the broker talks to it.
  { name: 'kafka-controller', server: 'kafka', portVariable: 'KAFKA_CONTROLLER_PORT', defaultPort: 9093 },
  {
    name: 'postgres',
    server: 'postgres',
    portVariable: 'PGPORT',
    defaultPort: 5432,
    urlVariable: 'DATABASE_URL',
    // The application role; its password is a secret file (src/config.ts).
    url: (host, port) => `postgres://pipelines_app@${host}:${port}/pipelines`,
  },
  {
    name: 'redis',
    server: 'redis',
    portVariable: 'REDIS_PORT',
    defaultPort: 6379,
    urlVariable: 'REDIS_URL',
    url: (host, port) => `redis://${host}:${port}`,
  },
  // The stand-ins for other companies' systems, then the codec server, which reads the key ring
  // that `scripts/stack.sh up` writes before starting any of them.
  {
    name: 'admin-service',
    server: 'admin-service',
    portVariable: 'ADMIN_SERVICE_PORT',
    defaultPort: 3010,
    urlVariable: 'ADMIN_SERVICE_URL',
    url: http,
    entry: 'stand-ins/admin-service/main.ts',
    healthPath: '/health',
  },
  {
    name: 'pharmacy',
    server: 'partner-services',
    portVariable: 'PHARMACY_SERVICE_PORT',
    defaultPort: 3011,
    urlVariable: 'PHARMACY_SERVICE_URL',
    url: http,
    entry: partnerServices,
    healthPath: '/health',
  },
  {
    name: 'insurer',
    server: 'partner-services',
    portVariable: 'INSURER_SERVICE_PORT',
    defaultPort: 3012,
    urlVariable: 'INSURER_SERVICE_URL',
    url: http,
    entry: partnerServices,
    healthPath: '/health',
  },
  {
    name: 'carrier',
    server: 'partner-services',
    portVariable: 'CARRIER_SERVICE_PORT',
    defaultPort: 3013,
    urlVariable: 'CARRIER_SERVICE_URL',
    url: http,
    entry: partnerServices,
    healthPath: '/health',
  },
  // The payment pipeline's card processor: a process of its own, so it can be stopped alone.
  {
    name: 'payment-provider',
    server: 'payment-provider',
    portVariable: 'PAYMENT_PROVIDER_PORT',
    defaultPort: 3014,
    urlVariable: 'PAYMENT_PROVIDER_URL',
    url: http,
    entry: 'stand-ins/payment-provider/main.ts',
    healthPath: '/health',
  },
  // Our own: the payment API, which writes what it accepts into the payment ledger (src/payment-api).
  {
    name: 'payment-api',
    server: 'payment-api',
    portVariable: 'PAYMENT_API_PORT',
    defaultPort: 3020,
    urlVariable: 'PAYMENT_API_URL',
    url: http,
    entry: 'src/payment-api/main.ts',
    healthPath: '/health',
  },
  {
    name: 'codec-server',
    server: 'codec-server',
    portVariable: 'CODEC_SERVER_PORT',
    defaultPort: 8088,
    urlVariable: 'CODEC_SERVER_URL',
    url: http,
    entry: 'src/codec-server/main.ts',
    healthPath: '/health',
  },
  // Kafka's TLS listener, which requires a client certificate: the stack signs its certificate and a
  // client's with a CA of its own (scripts/stack/tls.sh). Last, so the ports above keep their place in
  // an isolated stack's block; no client uses it unless told to (docs/production/connections.md).
  { name: 'kafka-ssl', server: 'kafka', portVariable: 'KAFKA_SSL_PORT', defaultPort: 9094 },
  // And its SASL over TLS listener (PLAIN and SCRAM-SHA-512), for the user and password file of scripts/stack/kafka.sh.
  { name: 'kafka-sasl', server: 'kafka', portVariable: 'KAFKA_SASL_PORT', defaultPort: 9095 },
] as const satisfies readonly StackService[];

type Listed = (typeof stackServices)[number];
export type PortVariable = Listed['portVariable'];
export type UrlVariable = NonNullable<Extract<Listed, { urlVariable: string }>['urlVariable']>;

/** The default of a port variable, for src/config.ts. */
export function defaultPort(variable: PortVariable): number {
  return stackServices.find((s) => s.portVariable === variable)!.defaultPort;
}

/** A client's default address of a service: the local stack's on its default port. */
export function defaultUrl(variable: UrlVariable): string {
  const service = stackServices.find((s) => 'urlVariable' in s && s.urlVariable === variable)!;
  return urlOf(service, STACK_HOST, service.defaultPort);
}

export function urlOf(service: StackService, host: string, port: number): string {
  if (!service.url) throw new Error(`${service.name} has no URL`);
  return service.url(host, port);
}

/**
 * Where each service sits in an isolated stack's block of ports: one after the other in list
 * order, each followed by the ports it reserves; `size` is the whole block.
 */
export function blockLayout(): { offsets: Map<StackService, number>; size: number } {
  const offsets = new Map<StackService, number>();
  let size = 0;
  for (const service of stackServices as readonly StackService[]) {
    offsets.set(service, size);
    size += 1 + (service.reservedAbove ?? 0);
  }
  return { offsets, size };
}
