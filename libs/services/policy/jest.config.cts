module.exports = {
  displayName: 'service-policy',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/policy',
};
