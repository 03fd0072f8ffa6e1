export { gatewayService } from './lib/definition';
export { ConsoleSessions } from './lib/console/sessions';
export { CONSOLE_PATH } from './lib/console/pages';
