import type { AuditEvent } from '@rungate/contracts';
import { completeAuditEvent } from '@rungate/messaging';
import { chainedContent } from '@rungate/persistence';
import fc from 'fast-check';
import {
  hostileJson,
  hostileText,
} from '../libs/audit-chain/src/testing/hostile-text';

/**
 * The embedded audit log chains the events it made as they are (StreamedEvent.event) instead of
 * reading them back from their JSON: the property that makes it the same chain, byte for byte,
 * as the audit service's reading of the same message off the stream.
 */
describe('chaining an event its writer made (LocalAuditLog, issue 19)', () => {
  it('gives exactly the content, canonical text and event that reading its JSON gives, whatever text it holds', () => {
    fc.assert(
      fc.property(
        hostileText,
        hostileText,
        hostileText,
        hostileJson,
        (user, tool, param, details) => {
          let event: AuditEvent;
          try {
            event = completeAuditEvent({
              type: 'audit.run.completed',
              source: 'executor-postgres',
              runId: 'run-1',
              actor: { user, groups: [user], agent: 'claude-code' },
              tool,
              params: { [param]: param },
              outcome: { status: 'succeeded', durationMs: -0, rows: 1 },
              details: { details } as Record<string, unknown>,
            });
          } catch (error) {
            // Refused where it is made (too long, too deep): never chained, by either path.
            expect(error).toBeInstanceOf(Error);
            return;
          }
          const message = {
            seq: 1,
            subject: event.type,
            data: JSON.stringify(event),
          };
          const read = chainedContent(message);
          const own = chainedContent({ ...message, event });
          expect(own.canonical).toBe(read.canonical);
          expect(JSON.stringify(own.content)).toBe(
            JSON.stringify(read.content),
          );
          // The same event but for what JSON itself changes (-0 reads back as 0).
          expect(JSON.stringify(own.event)).toBe(JSON.stringify(read.event));
        },
      ),
      { numRuns: 300 },
    );
  });
});
