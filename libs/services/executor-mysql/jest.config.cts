module.exports = {
  displayName: 'service-executor-mysql',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/executor-mysql',
};
