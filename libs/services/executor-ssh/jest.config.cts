module.exports = {
  displayName: 'service-executor-ssh',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/executor-ssh',
};
