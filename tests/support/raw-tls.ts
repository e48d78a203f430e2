/**
 * Raw bytes over TLS to the local API, for requests Node's HTTP client refuses to build
 * (CR/LF or NUL inside a header value, obsolete line folding, bare LF line ends). The
 * certificate is verified against the stack's own, as any other client does.
 */
import { connect } from 'node:tls';
import type { ApiTarget } from '../e2e/support/https.js';

export interface RawAnswer {
  /** The status of the first answer, if an HTTP answer came at all. */
  status: number | undefined;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
  /** The TLS handshake succeeded (the certificate verified): without it nothing else means much. */
  connected: boolean;
  /** The server closed the connection (rather than the client giving up at the timeout). */
  closedByServer: boolean;
}

/** A chunked body (a streamed answer has no Content-Length) put back together; a cut-off one as far as it came. */
function dechunked(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset, 'latin1');
    if (lineEnd === -1) break;
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parse(raw: Buffer, connected: boolean, closedByServer: boolean): RawAnswer {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const declared = Number(headers['content-length'] ?? Number.NaN);
  const bodyBytes = end === -1 ? Buffer.alloc(0) : raw.subarray(Buffer.byteLength(head, 'latin1') + 4);
  const body = (
    headers['transfer-encoding']?.toLowerCase() === 'chunked'
      ? dechunked(bodyBytes)
      : Number.isFinite(declared)
        ? bodyBytes.subarray(0, declared)
        : bodyBytes
  ).toString('utf8');
  return { status: match ? Number(match[1]) : undefined, headers, body, connected, closedByServer };
}

/** Sends `payload` as is and reads until the server closes or `timeoutMs` passes. */
export function sendRaw(target: ApiTarget, payload: string | Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  const url = new URL(target.apiUrl);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    let closedByServer = false;
    const socket = connect({
      host: '127.0.0.1',
      port: Number(url.port),
      servername: url.hostname,
      ca: target.caCertPem,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once('secureConnect', () => {
      connected = true;
      socket.write(payload);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      closedByServer = true;
    });
    socket.once('error', () => undefined);
    socket.once('close', () => resolve(parse(Buffer.concat(chunks), connected, closedByServer)));
  });
}
