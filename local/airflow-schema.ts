/**
 * Airflow's real `job` table, as `airflow db init` creates it (research/airflow.md §1,
 * research/airflow-real.md §3(e)): same columns, types and the three secondary indexes. Used by the
 * adapter's integration tests, the scheduler simulator and the end-to-end tests, so it has no
 * dependencies.
 */

type AirflowDialect = 'mysql' | 'postgres';

interface AirflowTableOptions {
  /** PostgreSQL schema or MySQL database holding the table (`sql_alchemy_schema`); default: the connection's. */
  readonly schema?: string;
  /** Prepended to the table name and, so that prefixed tables can share a PG schema, to the index names. */
  readonly tablePrefix?: string;
  /** `CREATE … IF NOT EXISTS`, for simulators that may run against an existing database. */
  readonly ifNotExists?: boolean;
}

const quoteIdentifier = (dialect: AirflowDialect, name: string): string =>
  dialect === 'mysql' ? `\`${name.replaceAll('`', '``')}\`` : `"${name.replaceAll('"', '""')}"`;

/** The quoted, optionally schema-qualified table name, e.g. `"airflow"."job"` or `` `job` ``. */
const airflowJobTable = (dialect: AirflowDialect, options: AirflowTableOptions = {}): string => {
  const table = quoteIdentifier(dialect, `${options.tablePrefix ?? ''}job`);
  return options.schema ? `${quoteIdentifier(dialect, options.schema)}.${table}` : table;
};

/** Statements to run in order. MySQL/MariaDB: `SHOW CREATE TABLE job` of a 2.5.1/2.7.3 database. */
const airflowJobDdl = (dialect: AirflowDialect, options: AirflowTableOptions = {}): string[] => {
  const table = airflowJobTable(dialect, options);
  const prefix = options.tablePrefix ?? '';
  const q = (name: string) => quoteIdentifier(dialect, name);
  const ine = options.ifNotExists ? 'IF NOT EXISTS ' : '';
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE ${ine}${table} (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`dag_id\` varchar(250) DEFAULT NULL,
  \`state\` varchar(20) DEFAULT NULL,
  \`job_type\` varchar(30) DEFAULT NULL,
  \`start_date\` timestamp(6) NULL DEFAULT NULL,
  \`end_date\` timestamp(6) NULL DEFAULT NULL,
  \`latest_heartbeat\` timestamp(6) NULL DEFAULT NULL,
  \`executor_class\` varchar(500) DEFAULT NULL,
  \`hostname\` varchar(500) DEFAULT NULL,
  \`unixname\` varchar(1000) DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  KEY ${q(`${prefix}job_type_heart`)} (\`job_type\`,\`latest_heartbeat\`),
  KEY ${q(`${prefix}idx_job_state_heartbeat`)} (\`state\`,\`latest_heartbeat\`),
  KEY ${q(`${prefix}idx_job_dag_id`)} (\`dag_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    ];
  }
  // What SQLAlchemy emits for Airflow's ORM model on PostgreSQL (UtcDateTime = TIMESTAMP WITH TIME ZONE).
  return [
    `CREATE TABLE ${ine}${table} (
  id SERIAL NOT NULL,
  dag_id VARCHAR(250),
  state VARCHAR(20),
  job_type VARCHAR(30),
  start_date TIMESTAMP WITH TIME ZONE,
  end_date TIMESTAMP WITH TIME ZONE,
  latest_heartbeat TIMESTAMP WITH TIME ZONE,
  executor_class VARCHAR(500),
  hostname VARCHAR(500),
  unixname VARCHAR(1000),
  CONSTRAINT ${q(`${prefix}job_pkey`)} PRIMARY KEY (id)
)`,
    `CREATE INDEX ${ine}${q(`${prefix}job_type_heart`)} ON ${table} (job_type, latest_heartbeat)`,
    `CREATE INDEX ${ine}${q(`${prefix}idx_job_state_heartbeat`)} ON ${table} (state, latest_heartbeat)`,
    `CREATE INDEX ${ine}${q(`${prefix}idx_job_dag_id`)} ON ${table} (dag_id)`,
  ];
};

export type { AirflowDialect, AirflowTableOptions };
export { airflowJobDdl, airflowJobTable, quoteIdentifier };
