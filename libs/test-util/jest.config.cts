module.exports = {
  displayName: 'test-util',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/test-util',
};
