import { describe, expect, it } from 'vitest';
import { InMemoryNetwork } from '../../../src/runtime/transport/index.js';

/** A network with a started server and connected sites that record the frames they receive. */
async function wired(sites: string[]) {
  const network = new InMemoryNetwork();
  const server = network.server();
  await server.start({ onFrame: () => {} });
  const received = new Map<string, Uint8Array[]>();
  for (const site of sites) {
    received.set(site, []);
    await network.client(site).connect({ onFrame: (f) => received.get(site)!.push(f) });
  }
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  return { server, received, settle };
}

describe('InMemoryNetwork', () => {
  it('hands every recipient of a shared frame its own copy, never the frame itself', async () => {
    const { server, received, settle } = await wired(['a', 'b']);
    const frame = Uint8Array.from([1, 2, 3, 4]);
    await server.send('a', frame, { shared: true });
    await settle();
    // The first recipient changes its bytes before the sender hands the frame on.
    received.get('a')![0]!.fill(9);
    await server.send('b', frame, { shared: true });
    await settle();
    const [a] = received.get('a')!;
    const [b] = received.get('b')!;
    expect(a).not.toBe(frame);
    expect(b).not.toBe(frame);
    expect(a!.buffer).not.toBe(b!.buffer);
    expect(Array.from(frame)).toEqual([1, 2, 3, 4]);
    expect(Array.from(b!)).toEqual([1, 2, 3, 4]);
  });

  it('hands a transferred frame over as is, and copies a frame sent a second time', async () => {
    const { server, received, settle } = await wired(['a', 'b']);
    const moved = Uint8Array.from([5]);
    await server.send('a', moved, { transfer: true });
    const twice = Uint8Array.from([7, 8]);
    await server.send('a', twice);
    await server.send('b', twice);
    await settle();
    expect(received.get('a')![0]).toBe(moved);
    expect(received.get('a')![1]).toBe(twice);
    expect(received.get('b')![0]).not.toBe(twice);
    expect(Array.from(received.get('b')![0]!)).toEqual([7, 8]);
  });
});
