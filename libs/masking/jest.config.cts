module.exports = {
  displayName: 'masking',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/masking',
};
