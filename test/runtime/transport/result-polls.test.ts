import { describe, expect, it } from 'vitest';
import type { Payload } from '../../../src/runtime/core/index.js';
import { ClientRunner } from '../../../src/runtime/engine/index.js';
import {
  decodeMessage,
  encodeMessage,
  InMemoryNetwork,
  type WireMessage,
} from '../../../src/runtime/transport/index.js';

const headers = { jobId: 'job', taskName: 'train', taskId: 't-1', round: 0 };
const answer: Payload = { kind: 'metrics', metrics: { loss: 0.5 }, meta: {} };

/**
 * A scripted server: welcomes the site (telling it whether results may carry the next poll),
 * hands out one task, then ends the job once the site polls again. Returns every message the
 * site sent, in order.
 */
async function siteTraffic(resultPolls: boolean | undefined): Promise<WireMessage[]> {
  const network = new InMemoryNetwork();
  const server = network.server();
  const seen: WireMessage[] = [];
  let polls = 0;
  const send = (msg: WireMessage) => void server.send('site-1', encodeMessage(msg));
  const onPoll = (reqId: number) => {
    polls++;
    if (polls === 1) send({ type: 'task', task: { headers, payload: null }, resend: false });
    else send({ type: 'bye', reason: 'done' });
    expect(reqId).toBe(polls);
  };
  await server.start({
    onFrame: (_site, frame) => {
      const msg = decodeMessage(frame);
      seen.push(msg);
      if (msg.type === 'hello') {
        const welcome = { type: 'welcome', jobId: 'job', parties: ['server', 'site-1'] } as const;
        send(
          resultPolls === undefined
            ? { ...welcome, heartbeatIntervalMs: 60_000 }
            : { ...welcome, heartbeatIntervalMs: 60_000, resultPolls },
        );
      } else if (msg.type === 'get-task') onPoll(msg.reqId);
      else if (msg.type === 'result' && msg.next !== undefined) onPoll(msg.next.reqId);
    },
  });
  const runner = new ClientRunner({
    site: 'site-1',
    jobId: 'job',
    app: {
      filters: { taskData: [], taskResult: [] },
      executors: [{ tasks: ['train'], execute: async () => answer }],
    },
    endpoint: network.client('site-1'),
    workspace: '.',
    dataRoot: '.',
    seed: 1,
  });
  await runner.run();
  return seen.filter((m) => m.type !== 'heartbeat');
}

describe('results that carry the next poll', () => {
  it('sends the next poll inside the result when the server says it takes it', async () => {
    const seen = await siteTraffic(true);
    expect(seen.map((m) => m.type)).toEqual(['hello', 'get-task', 'result', 'bye']);
    const result = seen[2] as Extract<WireMessage, { type: 'result' }>;
    expect(result.result).toMatchObject({ site: 'site-1', rc: 'ok', payload: answer });
    expect(result.next).toEqual({ reqId: 2, waitMs: 10_000 });
  });

  it('sends the result and the poll apart to a server that does not (an older build)', async () => {
    for (const flag of [undefined, false]) {
      const seen = await siteTraffic(flag);
      expect(seen.map((m) => m.type)).toEqual(['hello', 'get-task', 'result', 'get-task', 'bye']);
      expect((seen[2] as Extract<WireMessage, { type: 'result' }>).next).toBeUndefined();
    }
  });

  it('round-trips the poll fields and rejects malformed ones, naming the field', () => {
    const result = { headers, site: 's', rc: 'ok' as const, payload: null };
    const msg: WireMessage = { type: 'result', result, next: { reqId: 7, waitMs: 250 } };
    expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
    const welcome: WireMessage = {
      type: 'welcome',
      jobId: 'j',
      parties: ['server'],
      heartbeatIntervalMs: 5,
      resultPolls: true,
    };
    expect(decodeMessage(encodeMessage(welcome))).toEqual(welcome);
    const bad = { type: 'result', result, next: { reqId: -1, waitMs: 5 } } as WireMessage;
    expect(() => decodeMessage(encodeMessage(bad))).toThrow(/message\.next\.reqId/);
    const notBool = { ...welcome, resultPolls: 'yes' } as unknown as WireMessage;
    expect(() => decodeMessage(encodeMessage(notBool))).toThrow(/message\.resultPolls/);
  });
});
