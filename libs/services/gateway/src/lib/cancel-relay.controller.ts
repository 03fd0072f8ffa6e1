import { Controller, Logger } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { GatewayCancel, Subjects, type Reply } from '@rungate/contracts';
import { answer } from '@rungate/messaging';
import { callKeyOf, InFlightCalls } from './in-flight-calls';

/** Hears every client cancellation relayed over the bus; the replica serving the call stops it. */
@Controller()
export class CancelRelayController {
  private readonly log = new Logger(CancelRelayController.name);

  constructor(private readonly calls: InFlightCalls) {}

  @EventPattern(Subjects.gatewayCancel)
  cancel(payload: unknown): Promise<Reply<void>> {
    return answer(() => {
      const parsed = GatewayCancel.safeParse(payload);
      if (!parsed.success) {
        this.log.warn(`ignored a malformed cancellation on ${Subjects.gatewayCancel}`);
        return;
      }
      const outcome = this.calls.cancel(callKeyOf(parsed.data));
      const request = JSON.stringify(parsed.data.requestId);
      if (outcome === 'cancelled') this.log.log(`request ${request}: cancelled by its caller; stopping it`);
      // Two clients sharing a token without session ids, with the same id in flight: neither is stopped.
      if (outcome === 'ambiguous') this.log.warn(`request ${request}: a cancellation matched more than one call of one caller; none was stopped`);
    });
  }
}
