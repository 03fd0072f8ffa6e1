import { ProcessOutputCollector } from './process-output';

describe('ProcessOutputCollector', () => {
  it('keeps both streams apart and reports the exit code', () => {
    const output = new ProcessOutputCollector(100);
    output.write('stdout', 'hello ');
    output.write('stderr', Buffer.from('warning\n'));
    output.sink('stdout')('world\n');

    expect(output.finish(3)).toEqual({ kind: 'process', exitCode: 3, stdout: 'hello world\n', stderr: 'warning\n', truncated: false });
    expect(output.totalBytes).toBe(20);
  });

  it('shares one byte budget between stdout and stderr and flags what it dropped', () => {
    const output = new ProcessOutputCollector(8);
    output.write('stdout', 'abcdef');
    output.write('stderr', 'ghijkl');
    output.write('stdout', 'never kept');

    const result = output.finish(0);
    expect(result.stdout).toBe('abcdef');
    expect(result.stderr).toBe('gh');
    expect(result.truncated).toBe(true);
    expect(output.totalBytes).toBe(22);
  });

  it('decodes a UTF-8 character split across chunks whole', () => {
    const euro = Buffer.from('€');
    const output = new ProcessOutputCollector(100);
    output.write('stdout', euro.subarray(0, 1));
    output.write('stdout', euro.subarray(1));

    expect(output.finish(0).stdout).toBe('€');
  });

  it('is exactly full at the budget without being truncated', () => {
    const output = new ProcessOutputCollector(4);
    output.write('stdout', 'abcd');
    expect(output.finish(null)).toMatchObject({ stdout: 'abcd', truncated: false, exitCode: null });
  });
});
