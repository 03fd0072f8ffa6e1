import { execOutcome } from './exec-status';

describe('execOutcome (the Status object on channel 3)', () => {
  it('reads Success as exit code 0', () => {
    expect(execOutcome({ metadata: {}, status: 'Success' })).toEqual({ exited: true, exitCode: 0 });
  });

  it('reads NonZeroExitCode with its ExitCode cause', () => {
    const status = {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -s], exit code 42',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '42' }] },
    };
    expect(execOutcome(status)).toEqual({ exited: true, exitCode: 42 });
  });

  it('treats any other failure, or an ExitCode that is not a number, as a command that did not exit on its own', () => {
    expect(execOutcome({ status: 'Failure', reason: 'InternalError', message: 'OCI runtime exec failed: exec: "sh": executable file not found in $PATH' })).toEqual({
      exited: false,
      message: 'OCI runtime exec failed: exec: "sh": executable file not found in $PATH',
    });
    expect(execOutcome({ status: 'Failure', reason: 'NonZeroExitCode', message: 'x', details: { causes: [{ reason: 'ExitCode', message: 'lots' }] } })).toEqual({ exited: false, message: 'x' });
    expect(execOutcome(null)).toEqual({ exited: false, message: 'the API server reported a failure without a message' });
  });
});
