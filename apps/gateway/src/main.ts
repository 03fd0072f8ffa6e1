import { runService } from '@rungate/runtime';
import { gatewayService } from './app/definition';

runService(gatewayService);
