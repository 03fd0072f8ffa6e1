import { InvalidArgumentError } from '@commander-js/extra-typings';
import { durationMs, pollInterval, portNumber, positiveInteger } from './values';

describe('option values', () => {
  it('takes ports from 0 (any free port) to 65535, nothing else', () => {
    expect([portNumber('0'), portNumber('8080'), portNumber('65535')]).toEqual([0, 8080, 65535]);
    for (const bad of ['65536', '-1', '80a', '', '8080.5', ' 80', '0x50']) expect(() => portNumber(bad)).toThrow(InvalidArgumentError);
  });

  it('takes durations with a unit, days included, and refuses zero and bare numbers', () => {
    expect([durationMs('500ms'), durationMs('30s'), durationMs('15m'), durationMs('8h'), durationMs('7d')]).toEqual([500, 30_000, 900_000, 28_800_000, 604_800_000]);
    for (const bad of ['0s', '8', '1y', '1.5h', 'h', '']) expect(() => durationMs(bad)).toThrow(InvalidArgumentError);
  });

  it('polls no faster than every 100ms', () => {
    expect(pollInterval('100ms')).toBe(100);
    expect(() => pollInterval('50ms')).toThrow(/at least 100ms/);
  });

  it('takes positive whole numbers', () => {
    expect(positiveInteger('10')).toBe(10);
    for (const bad of ['0', '-3', '2.5', 'ten']) expect(() => positiveInteger(bad)).toThrow(InvalidArgumentError);
  });
});
