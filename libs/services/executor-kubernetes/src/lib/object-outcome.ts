/** What one object of a manifest runbook went through, as kubectl words it. */
export type ObjectOutcome = 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';

/** Fields the server changes on its own: they do not make an object "configured". */
function comparable(object: unknown): unknown {
  if (typeof object !== 'object' || object === null) return object;
  const { status: _status, metadata, ...rest } = object as Record<string, unknown>;
  if (typeof metadata !== 'object' || metadata === null) return rest;
  const { resourceVersion: _rv, managedFields: _mf, generation: _g, ...kept } = metadata as Record<string, unknown>;
  return { ...rest, metadata: kept };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Created when there was nothing before; otherwise configured when any field's value
 * differs from before the apply, unchanged when none does. Comparing content (not the
 * resourceVersion) works for dry runs too, whose answers keep the old resourceVersion, and
 * ignores a first apply that only records Rungate as a field manager.
 */
export function applyOutcome(before: unknown, after: unknown): ObjectOutcome {
  if (before === null || before === undefined) return 'created';
  return canonical(comparable(before)) === canonical(comparable(after)) ? 'unchanged' : 'configured';
}
