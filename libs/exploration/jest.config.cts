module.exports = {
  displayName: 'exploration',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/exploration',
};
