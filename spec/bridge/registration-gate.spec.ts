/** Registrations of a connect storm, completed together (CAP END held). */
import { RegistrationGate } from '../../src/bridge/registration-gate';

describe('RegistrationGate', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };

  test('outside a storm nothing waits', async () => {
    const gate = new RegistrationGate(3, 2000);
    const a = gate.enter();
    const b = gate.enter();
    let done = false;
    void a.gate().then(() => { done = true; });
    await flush();
    expect(done).toBe(true); // one other opening: fewer than 3
    b.leave();
    expect(gate.held).toBe(0);
  });

  test('in a storm, finished connections wait until fewer than the minimum are still opening, then go together', async () => {
    const gate = new RegistrationGate(3, 2000);
    const conns = Array.from({ length: 6 }, () => gate.enter());
    const gone: number[] = [];
    const wait = (i: number): void => {
      void (conns[i] as { gate: () => Promise<void> }).gate().then(() => gone.push(i));
    };
    wait(0);
    wait(1);
    wait(2); // three left opening: still a storm
    await flush();
    expect(gone).toEqual([]);
    expect(gate.held).toBe(3);
    wait(3); // two left opening: the storm is over
    await flush();
    expect(gone.sort()).toEqual([0, 1, 2, 3]);
    wait(4); // nobody waits any more, and few are opening
    await flush();
    expect(gone).toContain(4);
  });

  test('nobody waits longer than the longest hold; a failed connection counts as gone', async () => {
    const gate = new RegistrationGate(2, 2000);
    const conns = Array.from({ length: 5 }, () => gate.enter());
    let done = false;
    void conns[0]?.gate().then(() => { done = true; });
    await flush();
    jest.advanceTimersByTime(1999);
    await flush();
    expect(done).toBe(false);
    jest.advanceTimersByTime(1);
    await flush();
    expect(done).toBe(true);

    let second = false;
    void conns[1]?.gate().then(() => { second = true; });
    await flush();
    expect(second).toBe(false); // three still opening
    conns[2]?.leave(); // a connect failed
    conns[2]?.leave(); // counted once
    conns[3]?.leave();
    await flush();
    expect(second).toBe(true); // one left opening
  });

  test('release() lets everyone go (the bridge stopping)', async () => {
    const gate = new RegistrationGate(1, 60_000);
    const a = gate.enter();
    gate.enter();
    let done = false;
    void a.gate().then(() => { done = true; });
    await flush();
    expect(done).toBe(false);
    gate.release();
    await flush();
    expect(done).toBe(true);
  });
});
