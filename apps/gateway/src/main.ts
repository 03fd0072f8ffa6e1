import { runService } from '@rungate/runtime';
import { gatewayService } from '@rungate/service-gateway';

runService(gatewayService);
