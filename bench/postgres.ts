import { DataSource } from 'typeorm';

/** The PostgreSQL DataSource of the soak and scale scripts; PGHOST, PGPORT, PGUSER, PGDATABASE move it. */
export function benchPostgres(): DataSource {
  return new DataSource({
    type: 'postgres',
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    username: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'test',
    extra: { max: 10 },
  });
}
