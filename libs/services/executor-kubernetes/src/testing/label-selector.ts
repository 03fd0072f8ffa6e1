/** One requirement of a Kubernetes label selector. */
type Requirement =
  | { op: 'exists' | 'absent'; key: string }
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside `in (…)` sets. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function requirement(text: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = (set[3] as string).split(',').map((v) => v.trim());
    if (!values.every((v) => VALUE.test(v))) throw new Error(`invalid value in ${text}`);
    return { op: set[2] as 'in' | 'notin', key: checkKey(set[1] as string), values };
  }
  const compare = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (compare) {
    const value = compare[3] as string;
    if (!VALUE.test(value)) throw new Error(`invalid value in ${text}`);
    return { op: compare[2] === '!=' ? 'ne' : 'eq', key: checkKey(compare[1] as string), value };
  }
  if (text.startsWith('!')) return { op: 'absent', key: checkKey(text.slice(1).trim()) };
  return { op: 'exists', key: checkKey(text) };
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`invalid label key ${JSON.stringify(key)}`);
  return key;
}

/**
 * Parses a label selector as the API server does (`app=web,tier!=db,env in (a,b),!legacy`)
 * and returns a matcher; throws on a malformed selector, which the fake answers with 400.
 */
export function parseLabelSelector(selector: string): (labels: Record<string, string>) => boolean {
  const requirements = splitRequirements(selector).map(requirement);
  return (labels) =>
    requirements.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(labels, r.key);
      const value = labels[r.key];
      switch (r.op) {
        case 'exists':
          return has;
        case 'absent':
          return !has;
        case 'eq':
          return has && value === r.value;
        case 'ne':
          return !has || value !== r.value;
        case 'in':
          return has && r.values.includes(value as string);
        case 'notin':
          return !has || !r.values.includes(value as string);
      }
    });
}
