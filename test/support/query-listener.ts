import { EventSubscriber, type EntitySubscriberInterface } from 'typeorm';

/** A TypeORM subscriber class that listens to queries, recording the text of each into `seen`. */
export function queryListener(seen: string[]): Function {
  @EventSubscriber()
  class Listener implements EntitySubscriberInterface {
    afterQuery(event: { query: string }): void {
      seen.push(event.query);
    }
  }
  return Listener;
}
