import { ConfigError } from './load';
import { readEnvironment } from './environment';

function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    readEnvironment(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new ConfigError('test', [{ key: '(env)', message: 'was accepted' }]);
}

describe('readEnvironment', () => {
  it('gives the defaults when nothing is set, and counts an empty variable as unset', () => {
    expect(readEnvironment({ NATS_URL: '', LOG_LEVEL: '' })).toEqual({ NATS_URL: 'nats://127.0.0.1:4222', RUNGATE_SUBJECT_PREFIX: '', HEALTH_HOST: '0.0.0.0', LOG_LEVEL: 'info' });
  });

  it('reads every variable it knows, ports as numbers', () => {
    const env = readEnvironment({
      RUNGATE_CONFIG: '/etc/rungate/rungate.yaml',
      NATS_URL: 'nats://rungate:secret@nats-1:4222,tls://nats-2:4222',
      RUNGATE_SUBJECT_PREFIX: 'staging_1',
      DATABASE_URL: 'postgres://rungate:secret@db:5432/rungate',
      PORT: '9000',
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      RUNGATE_AUDIT_URL: 'https://audit.example.com',
      RUNGATE_TOKEN: 'rg_token',
      PATH: '/usr/bin',
    });
    expect(env).toEqual({
      RUNGATE_CONFIG: '/etc/rungate/rungate.yaml',
      NATS_URL: 'nats://rungate:secret@nats-1:4222,tls://nats-2:4222',
      RUNGATE_SUBJECT_PREFIX: 'staging_1',
      DATABASE_URL: 'postgres://rungate:secret@db:5432/rungate',
      PORT: 9000,
      HEALTH_PORT: 0,
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      RUNGATE_AUDIT_URL: 'https://audit.example.com',
      RUNGATE_TOKEN: 'rg_token',
    });
  });

  it.each([
    ['LOG_LEVEL', 'verbose', /LOG_LEVEL: /],
    ['PORT', '80a', /PORT: must be a port number/],
    ['PORT', '70000', /PORT: must be a port number/],
    ['HEALTH_PORT', '-1', /HEALTH_PORT: must be a port number/],
    ['NATS_URL', 'http://nats:4222', /NATS_URL: must be nats:\/\//],
    ['NATS_URL', 'nats://a:4222,not a url', /NATS_URL: must be nats:\/\//],
    ['RUNGATE_SUBJECT_PREFIX', 'a.b', /RUNGATE_SUBJECT_PREFIX: may hold only letters/],
    ['DATABASE_URL', 'mysql://root:hunter2@db/rungate', /DATABASE_URL: must be a postgres:\/\/ URL/],
    ['RUNGATE_AUDIT_URL', 'audit:8082', /RUNGATE_AUDIT_URL: must be an http:\/\/ or https:\/\/ URL/],
  ])('refuses %s=%s, naming the variable', (name, value, message) => {
    const text = problemsOf({ [name]: value });
    expect(text).toMatch(/^invalid configuration in the environment:/);
    expect(text).toMatch(message);
  });

  it('never repeats the value it refused (a URL may carry a password)', () => {
    expect(problemsOf({ DATABASE_URL: 'mysql://root:hunter2@db/rungate' })).not.toContain('hunter2');
  });

  it('names every invalid variable at once', () => {
    const text = problemsOf({ LOG_LEVEL: 'loud', PORT: 'x' });
    expect(text).toMatch(/LOG_LEVEL/);
    expect(text).toMatch(/PORT/);
  });
});
