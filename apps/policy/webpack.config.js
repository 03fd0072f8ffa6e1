module.exports = require('../../webpack.app.config')('policy');
