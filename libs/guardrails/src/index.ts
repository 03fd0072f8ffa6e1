export * from './lib/findings';
export * from './lib/guardrails';
export * from './lib/output';
export { loadSqlParser, type SqlParser, type SqlParse } from './lib/sql-parser';
