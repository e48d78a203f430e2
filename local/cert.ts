/**
 * The local API's TLS certificate: self-signed for localhost / 127.0.0.1 / ::1, made on the
 * first start and kept (git-ignored) for later starts, so a client trusts it once
 * (`curl --cacert .local/certs/cert.pem`). Generation is guarded by a lock directory so
 * parallel starts (tests) never mix one start's key with another's certificate.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';

export const DEFAULT_CERT_DIR = fileURLToPath(new URL('../.local/certs', import.meta.url));
export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';

const VALIDITY_DAYS = 365;
/** Renew when less than this is left. */
const RENEW_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;
const LOCK_STALE_MS = 60_000;

export interface LocalCertificate {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

function usable(cert: string, key: string): boolean {
  try {
    const x509 = new X509Certificate(cert);
    if (new Date(x509.validTo).getTime() - Date.now() < RENEW_BEFORE_MS) return false;
    if (!x509.checkHost('localhost') || !x509.checkIP('127.0.0.1')) return false;
    return x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

async function readExisting(dir: string): Promise<LocalCertificate | undefined> {
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return usable(cert, key) ? { certPath, keyPath, cert, key } : undefined;
  } catch {
    return undefined;
  }
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, path);
}

async function acquireLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const info = await stat(lock).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > LOCK_STALE_MS) await rm(lock, { recursive: true, force: true });
    return false;
  }
}

async function generateCertificate(dir: string): Promise<LocalCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + VALIDITY_DAYS * 24 * 60 * 60 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  await writeAtomically(keyPath, pems.private, 0o600);
  await writeAtomically(certPath, pems.cert, 0o644);
  return { certPath, keyPath, cert: pems.cert, key: pems.private };
}

/** Reuses the certificate under `dir` if it is valid for localhost, else makes a new one. */
export async function ensureCertificate(dir: string = DEFAULT_CERT_DIR): Promise<LocalCertificate> {
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const existing = await readExisting(dir);
    if (existing) return existing;
    if (await acquireLock(lock)) {
      try {
        return (await readExisting(dir)) ?? (await generateCertificate(dir));
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    }
    await sleep(100);
  }
  throw new Error(`Could not create the local TLS certificate in ${dir} (another start holds ${lock}).`);
}
