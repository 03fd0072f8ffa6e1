import { openDatabase, verifyStoredChain } from '@rungate/persistence';
import { option } from './args';

/** `rungate audit verify`: recomputes the hash chain from PostgreSQL; exit 0 intact, 1 broken. */
export async function auditCommand(args: string[]): Promise<number> {
  if (args[0] !== 'verify') {
    process.stderr.write('usage: rungate audit verify [--database URL]\n');
    return 2;
  }
  const url = option(args, '--database') ?? process.env['DATABASE_URL'];
  if (!url) {
    process.stderr.write('rungate audit verify: set DATABASE_URL or pass --database\n');
    return 2;
  }
  const db = await openDatabase(url);
  try {
    const result = await verifyStoredChain(db);
    if (result.ok) {
      process.stdout.write(`intact: ${result.checked} events, head ${result.head}\n`);
      return 0;
    }
    const b = result.firstBreak;
    process.stdout.write(
      `BROKEN after ${result.checked} intact events: event seq ${b?.seq} (id ${b?.id}) is ${b?.kind === 'altered' ? 'altered: its content does not match its hash' : 'out of place: its predecessor is missing, inserted or moved'}\n  expected ${b?.expected}\n  found    ${b?.actual}\n`,
    );
    return 1;
  } finally {
    await db.destroy();
  }
}
