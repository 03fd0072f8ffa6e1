module.exports = {
  displayName: 'executors',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/executors',
};
