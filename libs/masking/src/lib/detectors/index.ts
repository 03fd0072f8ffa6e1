import type { BuiltInEntity } from '@rungate/config';
import type { Detector } from '../detection';
import { awsAccessKeyDetector } from './aws-access-key';
import { bearerTokenDetector } from './bearer-token';
import { creditCardDetector } from './credit-card';
import { emailDetector } from './email';
import { ibanDetector } from './iban';
import { ipAddressDetector } from './ip-address';
import { jwtDetector } from './jwt';
import { phoneDetector } from './phone';
import { privateKeyDetector } from './private-key';
import { usSsnDetector } from './us-ssn';

export { cardBrand, luhnValid } from './credit-card';
export { ssnValid } from './us-ssn';

/** One detector per built-in entity of the config schema; the type makes a missing one a compile error. */
export const BUILT_IN_DETECTORS: Readonly<Record<BuiltInEntity, Detector>> = {
  email: emailDetector,
  credit_card: creditCardDetector,
  iban: ibanDetector,
  phone: phoneDetector,
  us_ssn: usSsnDetector,
  ip_address: ipAddressDetector,
  jwt: jwtDetector,
  aws_access_key: awsAccessKeyDetector,
  private_key: privateKeyDetector,
  bearer_token: bearerTokenDetector,
};
