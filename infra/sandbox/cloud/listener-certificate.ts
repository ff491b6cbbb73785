import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../nodes/process';

/**
 * The certificate of the sandbox's TLS listeners, standing in for the ACM certificate of the deployed
 * NLB (docs/tls.md): self-signed for 127.0.0.1 and localhost, so the certificate is its own CA. Only the
 * certificate stays on disk, in a private directory, for clients to trust; the key lives in memory.
 */
export interface ListenerCertificate {
  /** PEM private key */
  key: string;
  /** PEM certificate */
  cert: string;
  /** the certificate as a file: the CA file a client trusts (amqplib `ca`, curl `--cacert`) */
  caFile: string;
  /** removes the directory of the CA file */
  remove(): void;
}

/** Subject alternative names: the addresses the sandbox's listeners answer on. */
const SUBJECT_ALT_NAMES = 'subjectAltName=IP:127.0.0.1,DNS:localhost';
/** Longer than any sandbox lives; short enough that a leftover file is worthless soon. */
const VALID_DAYS = 30;

/** Generates the certificate with the openssl command line (Debian's `openssl` package). */
export async function generateListenerCertificate(): Promise<ListenerCertificate> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'ca.pem');
  try {
    // P-256: every TLS client warren's users run (Node, Erlang, Python, Java, curl) speaks it
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(VALID_DAYS)];
    const result = await runProcess('openssl', [...args, '-subj', '/CN=127.0.0.1', '-addext', SUBJECT_ALT_NAMES, '-keyout', keyFile, '-out', caFile], {
      timeoutMs: 30_000,
    }).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? new Error('the sandbox TLS listeners need the openssl command (apt-get install openssl)', { cause: error }) : error;
    });
    if (result.exitCode !== 0) throw new Error(`openssl could not generate the TLS listener certificate: ${result.stderr.trim()}`);
    const key = readFileSync(keyFile, 'utf8');
    rmSync(keyFile);
    return { key, cert: readFileSync(caFile, 'utf8'), caFile, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
