import { Column, DeleteDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** The session entity connect-typeorm's README asks the application to declare (its ISession). */
@Entity('bench_ct_sessions')
export class BenchCtSession {
  @Index()
  @Column('bigint')
  expiredAt = Date.now();

  @PrimaryColumn('varchar', { length: 255 })
  id = '';

  @Column('text')
  json = '';

  @DeleteDateColumn()
  destroyedAt?: Date;
}
