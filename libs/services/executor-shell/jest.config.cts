module.exports = {
  displayName: 'service-executor-shell',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/executor-shell',
};
