import { parseConfig } from '@rungate/config';
import { UsageError } from '../cli/values';
import { listenPlan } from './ports';

const config = (extra = '') => parseConfig(`repositories: [{ name: demo, url: /tmp/runbooks }]\n${extra}`);

describe('the ports rungate serve listens on', () => {
  it('are rungate.yaml\'s without flags', () => {
    expect(listenPlan(config(), {})).toEqual({ host: '127.0.0.1', gateway: 8080, audit: 8082 });
    expect(listenPlan(config('gateway: { port: 9000 }\naudit: { port: 9100 }'), {})).toEqual({ host: '127.0.0.1', gateway: 9000, audit: 9100 });
  });

  it('all move with --port: MCP on P, the audit API on P+2, over what the file says', () => {
    expect(listenPlan(config('audit: { port: 9100 }'), { port: 9000 })).toEqual({ host: '127.0.0.1', gateway: 9000, audit: 9002 });
  });

  it('are all free ones with --port 0', () => {
    expect(listenPlan(config(), { port: 0 })).toEqual({ host: '127.0.0.1', gateway: 0, audit: 0 });
  });

  it('take --audit-port and --host over the scheme', () => {
    expect(listenPlan(config(), { port: 9000, auditPort: 9500, host: '0.0.0.0' })).toEqual({ host: '0.0.0.0', gateway: 9000, audit: 9500 });
  });

  it('refuse a plan that cannot listen: no room above P, one port for both', () => {
    expect(() => listenPlan(config(), { port: 65534 })).toThrow(UsageError);
    expect(() => listenPlan(config(), { port: 9000, auditPort: 9000 })).toThrow(/cannot share port 9000/);
  });
});
