/**
 * TCP ports of the local stack: listening with one clear line when a port is taken, probing
 * a port before Java starts, finding a free one, and closing a server with its connections.
 */
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';

/** A port the stack needs is taken: one clear line for the operator. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly what: string,
    readonly variable: string,
  ) {
    super(
      `Port ${port} (${what}) is already in use: stop whatever listens there or choose another port with ${variable}=<port>.`,
    );
    this.name = 'PortInUseError';
  }
}

export function listen(
  server: Server,
  port: number,
  host: string,
  what: string,
  variable: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, what, variable) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Fails fast (before Java starts) when DynamoDB Local's port is taken. */
export async function ensurePortFree(port: number, what: string, variable: string): Promise<void> {
  for (const host of ['127.0.0.1', undefined]) {
    await new Promise<void>((resolve, reject) => {
      const probe = createNetServer();
      probe.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, what, variable) : error),
      );
      probe.listen({ port, ...(host ? { host } : {}), exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}

/** A free TCP port on loopback right now (tests and `port: 0` stacks never collide). */
export async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.unref();
  const port = await new Promise<number>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (port === 0) throw new Error('no free port');
  return port;
}
