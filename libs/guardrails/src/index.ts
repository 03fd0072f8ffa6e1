export * from './lib/findings';
export * from './lib/guardrails';
export * from './lib/output';
export { loadSqlParser, type SqlParser, type SqlParse, type SqlToken, type ParsedStatement } from './lib/sql-parser';
export * from './lib/sql-explore';
export { kindLabel } from './lib/sql-match';
export { descendants as parserNodes, unwrap as parserNode } from './lib/sql-statements';
export * from './lib/explain';
export * from './lib/lint';
