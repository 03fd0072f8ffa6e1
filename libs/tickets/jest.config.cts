module.exports = {
  displayName: 'tickets',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/tickets',
};
