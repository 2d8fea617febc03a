/**
 * Another process holding keel.db's write lock, as a backup tool or an sqlite3 shell would:
 * `node test/db-locker.ts <keel.db>` takes BEGIN EXCLUSIVE, prints "locked", and holds it until a
 * line "release" arrives on stdin (or stdin closes), then commits and exits.
 */
import { DatabaseSync } from 'node:sqlite';
import readline from 'node:readline';

const db = new DatabaseSync(process.argv[2]!);
db.exec('PRAGMA busy_timeout = 10000');
db.exec('BEGIN EXCLUSIVE');
// A write inside the transaction, so the lock is the writer's lock whatever the journal mode.
db.exec('CREATE TABLE IF NOT EXISTS locker_probe (x); INSERT INTO locker_probe VALUES (1)');
process.stdout.write('locked\n');
const release = () => {
  db.exec('ROLLBACK');
  db.close();
  process.exit(0);
};
readline.createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'release' && release()).on('close', release);
