import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';

/** The MariaDB (or MySQL) server the tests use: root without a password, on loopback. */
export const TEST_MYSQL_URL = process.env['TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';

export interface TestMysqlDatabase {
  name: string;
  /** A user of this database only, with a password of its own: `mysql://<user>:<password>@host:port/<name>`. */
  url: string;
  user: string;
  password: string;
  /** Runs SQL as root in this database (multiple statements allowed). */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  drop(): Promise<void>;
}

async function admin(database?: string): Promise<Connection> {
  const url = new URL(TEST_MYSQL_URL);
  return createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: database ?? (decodeURIComponent(url.pathname.slice(1)) || undefined),
    multipleStatements: true,
    charset: 'UTF8MB4_GENERAL_CI',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  });
}

/**
 * A fresh, empty database for one test file, and a user that may use only it, so files never
 * see each other's rows and a test can check that the user's password never leaves the executor.
 */
export async function createTestMysqlDatabase(prefix = 'rg'): Promise<TestMysqlDatabase> {
  const suffix = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const name = `${prefix}_${suffix}`;
  const user = `rg_${randomBytes(6).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const root = await admin();
  try {
    await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await root.query(`GRANT ALL PRIVILEGES ON \`${name}\`.* TO '${user}'@'%'`);
  } finally {
    await root.end();
  }
  const base = new URL(TEST_MYSQL_URL);
  const url = `mysql://${user}:${encodeURIComponent(password)}@${base.hostname}:${base.port || 3306}/${name}`;
  return {
    name,
    url,
    user,
    password,
    query: async <T>(sql: string, values: unknown[] = []): Promise<T> => {
      const conn = await admin(name);
      try {
        const [rows] = await conn.query(sql, values);
        return rows as T;
      } finally {
        await conn.end();
      }
    },
    drop: async () => {
      const conn = await admin();
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\`; DROP USER IF EXISTS '${user}'@'%'`);
      } finally {
        await conn.end();
      }
    },
  };
}
