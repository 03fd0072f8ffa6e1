import { parseConfig } from '@rungate/config';
import { ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { testClaims } from '@rungate/testing';
import { IssuedTickets, generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { TicketSigner } from './ticket-signer';

const keys = generateTicketKeyPair();
process.env['TICKET_SIGNER_SPEC_KEY'] = keys.privatePem;
const config = new ConfigHolder(parseConfig('repositories: [{ name: demo, url: /srv/demo }]\ntickets: { signingKey: env:TICKET_SIGNER_SPEC_KEY }\n', 'rungate.yaml'));

const claims = () => testClaims('SELECT 1', { path: 'pg/get.runbook.sql', connection: { name: 'db', type: 'postgres' }, groups: ['eng'], rule: 'engineering' }, { runId: 'run-signer-1' });

describe('TicketSigner', () => {
  it('in one process with its executors, leaves each ticket it signs where they find it (ADR 25)', () => {
    const issuedTickets = new IssuedTickets();
    const signer = new TicketSigner(config, { issuedTickets } as ServiceContext);
    const prepared = signer.prepare(claims());
    expect(issuedTickets.size).toBe(0);
    const ticket = prepared.sign();
    expect(ticket).toHaveLength(prepared.length);
    expect(issuedTickets.size).toBe(1);
    expect(verifyTicket(ticket, [verifyKeyFromPem(keys.publicPem)], Date.now(), issuedTickets).runId).toBe('run-signer-1');
    expect(issuedTickets.size).toBe(0);
  });

  it('across processes, signs as ever: the ticket verifies by its signature alone', () => {
    const signer = new TicketSigner(config, {} as ServiceContext);
    const ticket = signer.sign(claims());
    expect(verifyTicket(ticket, [verifyKeyFromPem(keys.publicPem)]).runId).toBe('run-signer-1');
  });
});
