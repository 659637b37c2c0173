import { DataJointWriter } from './datajoint-writer.js';

export type Execute = (sql: string, params?: unknown[]) => Promise<unknown>;

/** Tables as DataJoint 2.3 declares them on PostgreSQL: jsonb storage columns whose comment holds the type. */
const DDL = `
CREATE SCHEMA demo_lab;
CREATE TABLE demo_lab.session (
  session_id integer NOT NULL PRIMARY KEY,
  recording jsonb NOT NULL,
  traces jsonb NOT NULL,
  movie jsonb,
  protocol jsonb,
  raw jsonb
);
COMMENT ON COLUMN demo_lab.session.session_id IS ':int32:';
COMMENT ON COLUMN demo_lab.session.recording IS ':<blob@main>:serialized recording';
COMMENT ON COLUMN demo_lab.session.traces IS ':<npy@main>:calcium traces';
COMMENT ON COLUMN demo_lab.session.movie IS ':<object@main>:zarr-like movie folder';
COMMENT ON COLUMN demo_lab.session.protocol IS ':<attach@main>:protocol document';
COMMENT ON COLUMN demo_lab.session.raw IS ':<filepath@main>:acquisition file managed by the lab';
CREATE TABLE demo_lab."~lineage" (table_name varchar(64), attribute_name varchar(64), lineage varchar(255));
CREATE SCHEMA demo_analysis;
CREATE TABLE demo_analysis.__summary (
  session_id integer NOT NULL PRIMARY KEY,
  source jsonb NOT NULL,
  graph jsonb
);
COMMENT ON COLUMN demo_analysis.__summary.source IS ':<blob@main>:copied from demo_lab.session';
COMMENT ON COLUMN demo_analysis.__summary.graph IS ':<graph@main>:custom codec stored as a blob';
`;

const DAY = 86_400_000;

export interface DemoSeed {
  description: string[];
}

/**
 * A small lab: eight sessions, then what daily work does — two sessions deleted, one movie
 * replaced, an analysis that copied a deleted session's recording, an upload whose row is not
 * inserted yet.
 */
export async function seedDemo(execute: Execute, writer: DataJointWriter, now = Date.now()): Promise<DemoSeed> {
  await execute(DDL);
  const old = new Date(now - 3 * DAY);
  const sessions = [1, 2, 3, 4, 5, 6, 7, 8];
  const recordings = new Map<number, Record<string, unknown>>();
  for (const id of sessions) {
    const recording = await writer.hashObject('demo_lab', `recording of session ${id % 4}`, old);
    recordings.set(id, recording);
    const traces = await writer.schemaFile('demo_lab', 'session', { session_id: id }, 'traces', `traces ${id}`.repeat(40), '.npy', old);
    const movie = await writer.schemaFolder('demo_lab', 'session', { session_id: id }, 'movie', { '.zarray': '{}', '0.0': `frame ${id}`, 'sub/0.1': `frame ${id}b` }, old);
    const protocol = await writer.hashObject('demo_lab', `protocol.pdf\0protocol v${id}`, old);
    const raw = await writer.userFile(`acquisition/session_${id}.dat`, `raw ${id}`, old);
    await execute('INSERT INTO demo_lab.session VALUES ($1, $2, $3, $4, $5, $6)', [
      id,
      JSON.stringify(recording),
      JSON.stringify(traces),
      JSON.stringify(movie),
      JSON.stringify(protocol),
      JSON.stringify(raw),
    ]);
  }
  const graph = await writer.hashObject('demo_analysis', 'graph of session 3', old);
  await execute('INSERT INTO demo_analysis.__summary VALUES ($1, $2, $3)', [3, JSON.stringify(recordings.get(3)), JSON.stringify(graph)]);
  await execute('INSERT INTO demo_analysis.__summary VALUES ($1, $2, NULL)', [5, JSON.stringify(recordings.get(5))]);

  await execute('DELETE FROM demo_lab.session WHERE session_id IN (3, 6)');
  await execute('DELETE FROM demo_analysis.__summary WHERE session_id = 5');
  const replaced = await writer.schemaFolder('demo_lab', 'session', {}, 'movie', { '.zarray': '{}', '0.0': 'frame 2 re-done' }, old);
  await execute('UPDATE demo_lab.session SET movie = $1 WHERE session_id = 2', [JSON.stringify(replaced)]);
  await writer.schemaFile('demo_lab', 'session', { session_id: 9 }, 'traces', 'traces 9, populate() still running', '.npy');

  return {
    description: [
      'demo_lab.session: 8 sessions with a <blob@>, <npy@>, <object@> folder, <attach@> and <filepath@> column each',
      'sessions 3 and 6 deleted, session 2 movie replaced (update1), so their objects are orphaned',
      'demo_analysis.__summary copied session 3 recording: it stays protected by that cross-schema reference',
      'a <graph@main> custom-codec column protects its own hash object',
      'session 9 traces were uploaded a moment ago and its row is not inserted yet: protected by the grace period',
      'acquisition/ holds <filepath@> targets: user files outside the sections, never touched',
    ],
  };
}
