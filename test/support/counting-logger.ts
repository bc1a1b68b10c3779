import type { Logger } from 'typeorm';

const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|SAVEPOINT|RELEASE SAVEPOINT|SET TRANSACTION)\b/i;

/** Counts the SQL statements TypeORM sends, transaction control excluded. */
export class CountingLogger implements Logger {
  readonly statements: string[] = [];
  get count(): number {
    return this.statements.length;
  }
  reset(): void {
    this.statements.length = 0;
  }
  logQuery(query: string): void {
    if (!TRANSACTION_CONTROL.test(query)) this.statements.push(query);
  }
  logQueryError(_error?: string | Error): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
