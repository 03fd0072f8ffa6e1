import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Guardrails, loadSqlParser, type SqlParser } from '@rungate/guardrails';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { InternalError } from '@rungate/contracts';

/**
 * The guardrails of the current configuration, compiled when it is loaded: at start-up (after
 * PostgreSQL's parser has loaded, once) and on every reload. Policy answers no request before
 * module init has finished, so no call is ever checked without them.
 */
@Injectable()
export class GuardrailSet implements OnModuleInit {
  private compiled?: Guardrails;
  private sql?: SqlParser;

  constructor(@Inject(CONFIG) private readonly config: ConfigHolder) {}

  async onModuleInit(): Promise<void> {
    const parser = await loadSqlParser();
    this.sql = parser;
    this.compiled = Guardrails.compile(this.config.current, parser);
    this.config.onChange((next) => (this.compiled = Guardrails.compile(next, parser)));
  }

  /** PostgreSQL's parser, loaded once at start (explorations check their statements with it). */
  get parser(): SqlParser {
    if (!this.sql) throw new InternalError('the SQL parser is not loaded yet: policy has not finished starting');
    return this.sql;
  }

  get current(): Guardrails {
    if (!this.compiled) throw new InternalError('guardrails are not compiled yet: policy has not finished starting');
    return this.compiled;
  }
}
