module.exports = require('../../webpack.app.config')('cli');
