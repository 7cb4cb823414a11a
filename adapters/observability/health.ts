// The daemon's observability endpoints on a port of their own (node:http, nothing else), so they
// answer even when the API port is saturated or shut:
//   GET /live     200 while the process's event loop runs (answering at all is the proof).
//   GET /ready    200 when the node can serve requests (the injected readiness check), else 503.
//   GET /health   JSON: node status and each component's (raft, storage, transport, api, and any the
//                 daemon adds); 200 when every component is healthy, else 503 with the problems.
//   GET /metrics  the Prometheus text exposition of the node's DaemonMetrics.
// HEAD is answered like GET without a body; other methods get 405 with Allow, other paths 404.
// Invariants: a check that throws makes its component (or readiness) fail with the error as the
// reason, never the server; after markDraining() /ready and /health answer 503 (a node shutting
// down leaves its load balancer first); connections, header sizes and request times are bounded.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  assessApi, assessRaft, assessStorage, assessTransport, component, notReady,
  type ApiHealthSample, type ComponentHealth, type Readiness, type StorageHealthSample, type TransportHealthSample,
} from './health-checks.ts';
import type { RaftSample } from './metrics.ts';

/** Callbacks read at each /health. Leave out what this node does not have. */
export interface HealthChecks {
  readonly raft?: () => RaftSample;
  readonly storage?: () => StorageHealthSample;
  readonly transport?: () => TransportHealthSample;
  readonly api?: () => ApiHealthSample;
  /** Further components by name (a worker's manager link, the container runtime...). */
  readonly components?: Readonly<Record<string, () => ComponentHealth>>;
}

export interface HealthServerOptions {
  readonly nodeId: string;
  /** A DaemonMetrics fits as is. */
  readonly metrics: { scrape(): Promise<string>; readonly contentType: string };
  readonly ready: () => Readiness;
  readonly checks: HealthChecks;
  /** The address to bind. Default loopback; the daemon's configuration opens it wider. */
  readonly host?: string;
  /** Bound on open connections; scrapers and probes need few. Default 64. */
  readonly maxConnections?: number;
  /** Bound on receiving one request's headers and the whole request. Default 5000. */
  readonly requestTimeoutMs?: number;
  /** Bound on one request's header bytes. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Where /metrics failures are reported; a pino logger fits. */
  readonly logger?: { error(fields: Record<string, unknown>, message: string): void };
}

export interface HealthReport {
  readonly node_id: string;
  readonly status: 'healthy' | 'unhealthy';
  /** Every component's problems, each prefixed with the component's name. */
  readonly problems: readonly string[];
  readonly draining: boolean;
  readonly components: Readonly<Record<string, ComponentHealth>>;
}

const ALLOWED_METHODS = 'GET, HEAD';
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

export class HealthServer {
  private server: Server | null = null;
  private drainingReason: string | null = null;

  constructor(private readonly options: HealthServerOptions) {}

  /** Binds the port (0: the OS chooses); resolves to the bound port. */
  async start(port: number): Promise<number> {
    if (this.server !== null) throw new Error(`health server of ${this.options.nodeId}: already started`);
    const server = createServer({ maxHeaderSize: this.options.maxHeaderBytes ?? 16 * 1024 }, (request, response) => this.handle(request, response));
    const timeoutMs = this.options.requestTimeoutMs ?? 5000;
    server.maxConnections = this.options.maxConnections ?? 64;
    server.headersTimeout = timeoutMs;
    server.requestTimeout = timeoutMs;
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.options.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.server = null; // the port was taken: start() may be tried again
      throw error;
    }
    return (server.address() as AddressInfo).port;
  }

  /** Stops listening and ends open connections. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === null || !server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** From now on /ready and /health answer 503 with this reason (the first step of a shutdown). */
  markDraining(reason = 'shutting down'): void {
    this.drainingReason = reason;
  }

  /** The readiness /ready reports. */
  readiness(): Readiness {
    if (this.drainingReason !== null) return notReady(this.drainingReason);
    try {
      return this.options.ready();
    } catch (error) {
      return notReady(`readiness check failed: ${messageOf(error)}`);
    }
  }

  /** The report /health serves. */
  report(): HealthReport {
    const { raft, storage, transport, api, components: extra = {} } = this.options.checks;
    const components: Record<string, ComponentHealth> = {};
    if (raft) components.raft = safely(() => assessRaft(raft()));
    if (storage) components.storage = safely(() => assessStorage(storage()));
    if (transport) components.transport = safely(() => assessTransport(transport()));
    if (api) components.api = safely(() => assessApi(api()));
    for (const name of Object.keys(extra).sort()) components[name] = safely(extra[name]!);
    const problems = Object.entries(components).flatMap(([name, health]) => health.problems.map((problem) => `${name}: ${problem}`));
    if (this.drainingReason !== null) problems.unshift(`node: ${this.drainingReason}`);
    return {
      node_id: this.options.nodeId,
      status: problems.length === 0 ? 'healthy' : 'unhealthy',
      problems,
      draining: this.drainingReason !== null,
      components,
    };
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?', 1)[0]!;
    const route = routes.get(path);
    if (route === undefined) return send(request, response, 404, TEXT_TYPE, `not found: ${path}; try /live, /ready, /health or /metrics\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', ALLOWED_METHODS);
      return send(request, response, 405, TEXT_TYPE, `method ${request.method} not allowed on ${path}; use GET or HEAD\n`);
    }
    route(this, request, response);
  }

  /** Serves /metrics. */
  async serveMetrics(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let text: string;
    try {
      text = await this.options.metrics.scrape();
    } catch (error) {
      this.options.logger?.error({ error: messageOf(error) }, 'metrics scrape failed');
      return send(request, response, 500, TEXT_TYPE, `metrics scrape failed: ${messageOf(error)}\n`);
    }
    send(request, response, 200, this.options.metrics.contentType, text);
  }
}

type Route = (server: HealthServer, request: IncomingMessage, response: ServerResponse) => void;

const routes: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/live', (_server, request, response) => sendJson(request, response, 200, { status: 'live' })],
  ['/ready', (server, request, response) => {
    const readiness = server.readiness();
    sendJson(request, response, readiness.ready ? 200 : 503, readiness);
  }],
  ['/health', (server, request, response) => {
    const report = server.report();
    sendJson(request, response, report.status === 'healthy' ? 200 : 503, report);
  }],
  ['/metrics', (server, request, response) => void server.serveMetrics(request, response)],
]);

function safely(check: () => ComponentHealth): ComponentHealth {
  try {
    return check();
  } catch (error) {
    return component({}, [`check failed: ${messageOf(error)}`]);
  }
}

function sendJson(request: IncomingMessage, response: ServerResponse, status: number, body: unknown): void {
  send(request, response, status, JSON_TYPE, `${JSON.stringify(body)}\n`);
}

function send(request: IncomingMessage, response: ServerResponse, status: number, contentType: string, body: string): void {
  response.statusCode = status;
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.setHeader('Cache-Control', 'no-store');
  response.end(request.method === 'HEAD' ? undefined : body);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
