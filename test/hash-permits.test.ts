// The password-hashing allowance (src/accounts/hash-permits.ts): first come, first served, never
// more at once than the allowance, and a worker that dies gives its permits back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultHashPermits, localPermits, PermitPool } from '../src/accounts/hash-permits.ts';

describe('hash permits', () => {
  test('a pool grants in order of asking and never more than its size', () => {
    const pool = new PermitPool<string>(1);
    const granted: string[] = [];
    pool.acquire('a', () => granted.push('a'));
    pool.acquire('b', () => granted.push('b'));
    pool.acquire('c', () => granted.push('c'));
    assert.deepEqual(granted, ['a']);
    pool.release('a');
    assert.deepEqual(granted, ['a', 'b']);
    pool.release('a'); // not held any more: ignored, grants nothing
    assert.deepEqual(granted, ['a', 'b']);
    pool.release('b');
    assert.deepEqual(granted, ['a', 'b', 'c']);
    pool.release('c');
    assert.equal(pool.free, 1);
  });

  test('a forgotten holder (a dead worker) returns its permits, and its waiters are dropped', () => {
    const pool = new PermitPool<number>(2);
    const granted: string[] = [];
    pool.acquire(1, () => granted.push('1a'));
    pool.acquire(1, () => granted.push('1b'));
    pool.acquire(1, () => granted.push('1c'));
    pool.acquire(2, () => granted.push('2a'));
    assert.deepEqual(granted, ['1a', '1b']);
    pool.forget(1);
    assert.deepEqual(granted, ['1a', '1b', '2a']);
    assert.equal(pool.free, 1);
  });

  test('local permits run at most the allowance at once, and every piece of work', async () => {
    const run = localPermits(2);
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running--;
          if (i === 3) throw new Error('a failed hash');
          return i;
        }).catch((err: Error) => err.message),
      ),
    );
    assert.equal(most, 2);
    assert.equal(results[3], 'a failed hash');
    assert.deepEqual(results.filter((r) => typeof r === 'number').length, 9);
  });

  test('the default leaves a core free', () => {
    assert.ok(defaultHashPermits() >= 1);
  });
});
