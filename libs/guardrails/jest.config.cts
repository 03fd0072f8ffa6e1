module.exports = {
  displayName: 'guardrails',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/guardrails',
};
