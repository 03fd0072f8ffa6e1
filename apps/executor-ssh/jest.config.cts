module.exports = {
  displayName: 'executor-ssh',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/executor-ssh',
};
