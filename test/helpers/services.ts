import { randomBytes } from 'node:crypto';
import net from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';

/**
 * The real local services the integration suites run against (MariaDB and PostgreSQL on 127.0.0.1,
 * no TLS, root / trust auth), plus network faults to aim the adapters at. A missing service fails the
 * suite with the command that starts it: never a silent skip. Each test file works in its own
 * uniquely named database, so files can run in parallel.
 */

type ServiceName = 'mariadb' | 'postgres';

interface ServiceSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Empty: root / trust auth. */
  readonly password: string;
  readonly database: string;
}

const START_COMMANDS: Record<ServiceName, string> = {
  mariadb: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
};

const MARIADB: ServiceSettings = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };
const POSTGRES_USERS = ['postgres', 'root'] as const;
const POSTGRES_BASE = { host: '127.0.0.1', port: 5432, password: '', database: 'test' } as const;

const message = (err: unknown): string => (err instanceof Error ? err.message || String((err as { code?: unknown }).code) : String(err));

const loginMariaDb = async (s: ServiceSettings): Promise<void> => {
  const conn = await mysql.createConnection({ ...s, connectTimeout: 3000 });
  await conn.query('SELECT 1');
  await conn.end();
};

const loginPostgres = async (s: ServiceSettings): Promise<void> => {
  const client = new pg.Client({ ...s, connectionTimeoutMillis: 3000 });
  await client.connect();
  await client.query('SELECT 1');
  await client.end();
};

/**
 * Resolves the settings of a reachable service, or throws an error naming the service and how to
 * start it. Call it in `beforeAll`: the whole file then fails loudly.
 */
const requireService = async (name: ServiceName): Promise<ServiceSettings> => {
  const problems: string[] = [];
  if (name === 'mariadb') {
    try {
      await loginMariaDb(MARIADB);
      return MARIADB;
    } catch (err) {
      problems.push(message(err));
    }
  } else {
    for (const user of POSTGRES_USERS) {
      const settings = { ...POSTGRES_BASE, user };
      try {
        await loginPostgres(settings);
        return settings;
      } catch (err) {
        problems.push(`user ${user}: ${message(err)}`);
      }
    }
  }
  const where = name === 'mariadb' ? `${MARIADB.host}:${MARIADB.port}` : `${POSTGRES_BASE.host}:${POSTGRES_BASE.port}`;
  throw new Error(
    `${name} is not reachable at ${where} (${problems.join('; ')}). These integration tests need the real service; start it with:\n  ${START_COMMANDS[name]}`,
  );
};

/** A name no other test file (or run) uses, valid as a database or schema identifier. */
const uniqueName = (prefix: string): string => `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;

interface TempMariaDb {
  /** Settings pointing at the new database. */
  readonly settings: ServiceSettings;
  /** A connection to it, session time zone UTC (as Airflow's). */
  readonly conn: mysql.Connection;
  /** Another database to drop with it (e.g. for a non-default schema). */
  addDatabase(suffix: string): Promise<string>;
  drop(): Promise<void>;
}

const tempMariaDb = async (base: ServiceSettings, prefix = 'wd_test'): Promise<TempMariaDb> => {
  const name = uniqueName(prefix);
  const extra: string[] = [];
  const admin = await mysql.createConnection({ ...base });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.end();
  const settings = { ...base, database: name };
  const conn = await mysql.createConnection({ ...settings, dateStrings: true });
  await conn.query("SET time_zone = '+00:00'");
  return {
    settings,
    conn,
    async addDatabase(suffix) {
      const db = `${name}_${suffix}`;
      await conn.query(`CREATE DATABASE \`${db}\``);
      extra.push(db);
      return db;
    },
    async drop() {
      for (const db of [...extra, name]) await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    },
  };
};

interface TempPostgres {
  readonly settings: ServiceSettings;
  readonly client: pg.Client;
  drop(): Promise<void>;
}

const tempPostgres = async (base: ServiceSettings, prefix = 'wd_test'): Promise<TempPostgres> => {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ ...base });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const settings = { ...base, database: name };
  const client = new pg.Client({ ...settings });
  await client.connect();
  return {
    settings,
    client,
    async drop() {
      await client.end();
      const dropper = new pg.Client({ ...base });
      await dropper.connect();
      // FORCE: adapters under test may still hold a connection.
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await dropper.end();
    },
  };
};

/** A port nothing listens on (bound, then released). */
const closedPort = async (): Promise<number> => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

interface FaultServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

const listen = async (server: net.Server, sockets: Set<net.Socket>, counter: { accepted: number }): Promise<FaultServer> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    get accepted() {
      return counter.accepted;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** Accepts TCP connections and never answers: a black-holed database. */
const hungServer = async (): Promise<FaultServer> => {
  const sockets = new Set<net.Socket>();
  const counter = { accepted: 0 };
  const server = net.createServer((socket) => {
    counter.accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  return listen(server, sockets, counter);
};

interface FaultProxy extends FaultServer {
  /** From now on bytes in both directions are swallowed; connections stay open. */
  blackhole(): void;
  /** Forward again (new and old connections). */
  restore(): void;
}

/** A TCP proxy to a real service that can be switched to swallow traffic (server hung mid-session). */
const faultProxy = async (target: { host: string; port: number }): Promise<FaultProxy> => {
  const sockets = new Set<net.Socket>();
  const counter = { accepted: 0 };
  const mode = { swallow: false };
  const server = net.createServer((client) => {
    counter.accepted += 1;
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => {
      if (!mode.swallow) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!mode.swallow) client.write(chunk);
    });
  });
  const base = await listen(server, sockets, counter);
  return {
    ...base,
    get accepted() {
      return counter.accepted;
    },
    blackhole() {
      mode.swallow = true;
    },
    restore() {
      mode.swallow = false;
    },
  };
};

export type { FaultProxy, FaultServer, ServiceName, ServiceSettings, TempMariaDb, TempPostgres };
export { closedPort, faultProxy, hungServer, requireService, START_COMMANDS, tempMariaDb, tempPostgres, uniqueName };
