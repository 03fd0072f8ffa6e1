export * from './lib/findings';
export * from './lib/guardrails';
export * from './lib/output';
export { loadSqlParser, type SqlParser, type SqlParse } from './lib/sql-parser';
export * from './lib/explain';
export * from './lib/lint';
