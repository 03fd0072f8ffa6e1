export { gatewayService } from './lib/definition';
