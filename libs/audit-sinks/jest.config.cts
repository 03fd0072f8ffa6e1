module.exports = {
  displayName: 'audit-sinks',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/audit-sinks',
};
