import { RungateError } from '@rungate/contracts';
import { parseAllDocuments } from 'yaml';
import { parseActionDocument, RUNGATE_ACTION_API_VERSION, type WorkloadAction } from './action-document';

/** One object of a manifest runbook, as it will be sent to the API server. */
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** The namespace the document names, if any; the connection's namespace otherwise. */
  readonly namespace?: string;
  /** Position in the runbook, 1-based over the non-empty documents, for messages. */
  readonly document: number;
  /** The whole object, exactly what was validated here and what the server receives (as JSON). */
  readonly object: Record<string, unknown>;
}

/** What a `.yaml` runbook asks for: objects to apply or delete, or one workload action. */
export type KubernetesBody = { kind: 'manifests'; objects: ManifestObject[] } | { kind: 'action'; action: WorkloadAction };

/** A Kubernetes object name (DNS subdomain); also keeps names safe inside URL paths. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const API_VERSION = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;

function refuse(message: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `${message}; nothing was applied`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a manifest runbook the way the API server will: YAML 1.1 (Kubernetes decodes with
 * go-yaml v2, so `on`/`yes` are booleans and `012` is octal), several documents separated by
 * `---`, empty documents skipped, duplicate keys refused. A parse error names the line and
 * column only: the message of a YAML parser quotes the source, which holds rendered
 * parameter values.
 */
export function parseKubernetesBody(body: string): KubernetesBody {
  const documents = parseAllDocuments(body, { version: '1.1', prettyErrors: true });
  if (!Array.isArray(documents)) throw refuse('the runbook holds no YAML document');
  const values: { value: unknown; document: number }[] = [];
  for (const document of documents) {
    const [error] = document.errors;
    if (error) {
      const at = error.linePos?.[0];
      throw refuse(`the manifest is not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}: ${error.code.toLowerCase().replace(/_/g, ' ')}`);
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch {
      // The only failure left after parsing: aliases that would expand beyond the limit.
      throw refuse('the manifest expands YAML aliases beyond 100 (an alias bomb?)');
    }
    if (value === null || value === undefined) continue;
    values.push({ value, document: values.length + 1 });
  }
  if (values.length === 0) throw refuse('the runbook holds no Kubernetes object');
  const isAction = values.some(({ value }) => isRecord(value) && value['apiVersion'] === RUNGATE_ACTION_API_VERSION);
  if (isAction) {
    if (values.length > 1) throw refuse(`an ${RUNGATE_ACTION_API_VERSION} Action document must be the only document of its runbook`);
    return { kind: 'action', action: parseActionDocument((values[0] as { value: unknown }).value) };
  }
  const objects = values.map(({ value, document }) => manifestObject(value, document));
  const seen = new Set<string>();
  for (const object of objects) {
    const key = `${object.apiVersion}/${object.kind}/${object.namespace ?? ''}/${object.name}`;
    if (seen.has(key)) throw refuse(`document ${object.document}: ${object.kind} ${object.name} appears twice in the runbook`);
    seen.add(key);
  }
  return { kind: 'manifests', objects };
}

function manifestObject(value: unknown, document: number): ManifestObject {
  const where = `document ${document}`;
  if (!isRecord(value)) throw refuse(`${where} is not a Kubernetes object (a mapping with apiVersion, kind and metadata)`);
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || !API_VERSION.test(apiVersion)) throw refuse(`${where}: apiVersion must be "v1" or "<group>/<version>"`);
  if (typeof kind !== 'string' || !KIND.test(kind)) throw refuse(`${where}: kind must be a Kubernetes kind such as Deployment`);
  if (kind.endsWith('List')) throw refuse(`${where}: ${kind} is a list; write its items as separate documents`);
  if (!isRecord(metadata)) throw refuse(`${where} (${kind}): metadata with a name is required`);
  const { name, namespace, generateName } = metadata;
  if (generateName !== undefined && name === undefined) throw refuse(`${where} (${kind}): metadata.generateName cannot be applied; give the object a name`);
  if (typeof name !== 'string' || !OBJECT_NAME.test(name)) throw refuse(`${where} (${kind}): metadata.name must be a Kubernetes object name (lowercase letters, digits, "-" and ".")`);
  if (namespace !== undefined && (typeof namespace !== 'string' || !OBJECT_NAME.test(namespace))) throw refuse(`${where} (${kind} ${name}): metadata.namespace is not a namespace name`);
  return { apiVersion, kind, name, ...(namespace === undefined ? {} : { namespace }), document, object: value };
}

/**
 * A connection acts in its own namespace only. A document that names another namespace is
 * refused before anything is sent (the connection's RBAC should forbid it as well; this
 * keeps a runbook from even asking). Cluster-scoped kinds are refused once discovery says
 * which kinds they are.
 */
export function assertNamespace(namespace: string | undefined, connectionNamespace: string, what: string): void {
  if (namespace !== undefined && namespace !== connectionNamespace) {
    throw refuse(`${what} names namespace "${namespace}", but this connection acts only in namespace "${connectionNamespace}"; remove metadata.namespace or use a connection for that namespace`);
  }
}

/** kubectl's name for an object in messages: `deployment.apps/web`, `configmap/settings`. */
export function objectRef(apiVersion: string, kind: string, name: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  return `${kind.toLowerCase()}${group ? `.${group}` : ''}/${name}`;
}
