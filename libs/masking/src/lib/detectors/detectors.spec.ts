import { allEntities, profileDefinition } from '../../testing/profiles';
import { detect } from '../mask-text';
import { compileMaskingProfile } from '../profile';
import { cardBrand, luhnValid, ssnValid } from '.';

const profile = allEntities('redact');

/** What the default-threshold profile finds in `text`: `kind:value` pairs in order. */
function found(text: string): string[] {
  return detect(text, profile).map((d) => `${d.kind}:${text.slice(d.start, d.end)}`);
}

function scoreOf(text: string): number | undefined {
  return detect(text, allEntities('redact', { threshold: 0 }))[0]?.score;
}

describe('credit cards (Luhn, brand from credit-card-type)', () => {
  it.each([
    ['4111111111111111', 'visa'],
    ['4111 1111 1111 1111', 'visa'],
    ['4111-1111-1111-1111', 'visa'],
    ['5500 0000 0000 0004', 'mastercard'],
    ['3782 822463 10005', 'american-express'],
    ['6011111111111117', 'discover'],
    ['3530111333300000', 'jcb'],
  ])('finds %s (%s)', (card, brand) => {
    expect(found(`paid with ${card}.`)).toEqual([`credit_card:${card}`]);
    expect(cardBrand(card.replace(/\D/g, ''))).toBe(brand);
  });

  it('leaves a 16-digit number that fails Luhn visible', () => {
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(found('order 4111111111111112 shipped')).toEqual([]);
    expect(found('order 4111 1111 1111 1112 shipped')).toEqual([]);
  });

  it('scores a Luhn-valid number no brand issues below the default threshold', () => {
    expect(luhnValid('0000000000000000')).toBe(true);
    expect(found('id 0000000000000000')).toEqual([]);
    expect(scoreOf('id 0000000000000000')).toBe(0.4);
  });

  it('finds the card among other digit groups, but not inside a longer number', () => {
    expect(found('order 12 4111 1111 1111 1111 qty 3')).toEqual(['credit_card:4111 1111 1111 1111']);
    expect(found('41111111111111110')).toEqual([]);
    expect(found('cards 4111111111111111 5500000000000004')).toEqual(['credit_card:4111111111111111', 'credit_card:5500000000000004']);
  });

  it('does not take timestamps, phone numbers or short numbers for cards', () => {
    expect(found('2024-05-01 12:00:00.123456+00')).toEqual([]);
    expect(found('1234 5678')).toEqual([]);
  });
});

describe('IBAN (mod-97, country length from ibantools)', () => {
  it.each(['DE89370400440532013000', 'DE89 3704 0044 0532 0130 00', 'GB29 NWBK 6016 1331 9268 19', 'NO9386011117947', 'FR1420041010050500013M02606'])(
    'finds %s',
    (iban) => {
      expect(found(`to ${iban}, thanks`)).toEqual([`iban:${iban}`]);
    },
  );

  it('leaves a wrong check digit, an unknown country and a longer token visible', () => {
    expect(found('DE88370400440532013000')).toEqual([]);
    expect(found('XX89370400440532013000')).toEqual([]);
    expect(found('DE89370400440532013000X')).toEqual([]);
    expect(found('HTTP2 GET /api/v1')).toEqual([]);
  });
});

describe('e-mail addresses', () => {
  it.each(['alice@example.com', "o.neil+x@mail.example.co.uk", 'a_b-c@sub-domain.example.org', 'x@xn--bcher-kva.example'])('finds %s', (email) => {
    expect(found(`<${email}>`)).toEqual([`email:${email}`]);
  });

  it('ends an address where its domain does, not at the sentence', () => {
    expect(found('write to alice@example.com.')).toEqual(['email:alice@example.com']);
    expect(found('(.bob@example.org)')).toEqual(['email:bob@example.org']);
  });

  it('leaves what only has an @ visible', () => {
    expect(found('user@localhost')).toEqual([]);
    expect(found('@scope/package@1.2.3')).toEqual([]);
    expect(found('git@github.com:org/repo.git')).toEqual(['email:git@github.com']);
    expect(found('a..b@example.com')).toEqual([]);
    expect(found('x@1.2.3.4')).toEqual(['ip_address:1.2.3.4']);
  });
});

describe('phone numbers', () => {
  it.each(['+49 30 1234567', '+1-202-555-0143', '+44 (20) 7946 0958', '+33612345678', '(202) 555-0143', '202-555-0143', '202.555.0143', '202 555 0143'])('finds %s', (phone) => {
    expect(found(`call ${phone} now`)).toEqual([`phone:${phone}`]);
  });

  it('leaves dates, times, versions, bare digit runs and invalid North American codes visible', () => {
    expect(found('2024-05-01 12:30:45')).toEqual([]);
    expect(found('+02:00')).toEqual([]);
    expect(found('version 10.12.2024')).toEqual([]);
    expect(found('id 2025550143')).toEqual([]);
    expect(found('123-456-7890')).toEqual([]);
    expect(found('+12345')).toEqual([]);
  });
});

describe('US Social Security numbers (area/group/serial rules)', () => {
  it('finds a valid number written with separators', () => {
    expect(found('SSN 123-45-6780')).toEqual(['us_ssn:123-45-6780']);
    expect(found('SSN 536 90 4399')).toEqual(['us_ssn:536 90 4399']);
  });

  it.each(['000-12-3456', '666-12-3456', '912-12-3456', '123-00-4567', '123-45-0000', '078-05-1120', '123-45-6789', '111-11-1111'])('leaves %s (never issued) visible', (ssn) => {
    expect(found(`SSN ${ssn}`)).toEqual([]);
  });

  it('scores nine bare digits below the default threshold and mixed separators not at all', () => {
    expect(ssnValid('536', '90', '4399')).toBe(true);
    expect(found('536904399')).toEqual([]);
    expect(scoreOf('536904399')).toBe(0.3);
    expect(found('536-90 4399')).toEqual([]);
  });
});

describe('IP addresses', () => {
  it.each(['192.168.10.20', '10.0.0.1', '2001:db8::1', 'fe80::1ff:fe23:4567:890a', '::ffff:192.0.2.128', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'])('finds %s', (ip) => {
    expect(found(`from ${ip}:`)).toEqual([`ip_address:${ip}`]);
  });

  it('finds the address in a URL or with a port', () => {
    expect(found('postgres://10.1.2.3:5432/db')).toEqual(['ip_address:10.1.2.3']);
    expect(found('[2001:db8::7]:443')).toEqual(['ip_address:2001:db8::7']);
  });

  it('leaves versions, octets over 255, times and MAC addresses visible', () => {
    expect(found('v1.2.3.4 and 1.2.3.4.5')).toEqual([]);
    expect(found('300.1.1.1')).toEqual([]);
    expect(found('01.2.3.4')).toEqual([]);
    expect(found('12:30:45.123')).toEqual([]);
    expect(found('00:1a:2b:3c:4d:5e')).toEqual([]);
    expect(found('std::vector')).toEqual([]);
  });
});

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';

describe('JWTs', () => {
  it('finds a token whose header names its alg', () => {
    expect(found(`token=${JWT}&x=1`)).toEqual([`jwt:${JWT}`]);
    expect(scoreOf(JWT)).toBe(0.95);
  });

  it('finds an unsigned token (alg none) and scores a look-alike lower', () => {
    const unsigned = `${JWT.split('.').slice(0, 2).join('.')}.`;
    expect(found(unsigned)).toEqual([`jwt:${unsigned}`]);
    expect(scoreOf('eyJhbGxxxxxx.eyJzdWIi.sig')).toBe(0.6);
  });

  it('leaves two-part and non-JSON dotted strings visible', () => {
    expect(found('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0')).toEqual([]);
    expect(found('abc.def.ghi')).toEqual([]);
  });
});

describe('AWS access keys', () => {
  it('finds access key ids and labelled secret access keys (only the value)', () => {
    expect(found('AKIAIOSFODNN7EXAMPLE')).toEqual(['aws_access_key:AKIAIOSFODNN7EXAMPLE']);
    expect(found('"AccessKeyId": "ASIAY34FZKBOKMUTVV7A"')).toEqual(['aws_access_key:ASIAY34FZKBOKMUTVV7A']);
    expect(found('AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toEqual(['aws_access_key:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']);
    expect(found('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",')).toEqual(['aws_access_key:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']);
  });

  it('leaves other prefixes, wrong lengths and unlabelled 40-character strings visible', () => {
    expect(found('AKIAIOSFODNN7EXAMPL')).toEqual([]);
    expect(found('XKIAIOSFODNN7EXAMPLE')).toEqual([]);
    expect(found('AKIAIOSFODNN7EXAMPLEX')).toEqual([]);
    expect(found('sha1 wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toEqual([]);
  });
});

const PEM = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIG3/e5QWkWmTu8TlJh0lOAFR2D7AGDkTvb8zp0VXzQ7s\n-----END PRIVATE KEY-----';

describe('private keys (PEM and PGP blocks)', () => {
  it.each(['', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED '])('finds a %sPRIVATE KEY block, header to footer', (type) => {
    const block = PEM.replace(/PRIVATE KEY/g, `${type}PRIVATE KEY`);
    expect(found(`key:\n${block}\ndone`)).toEqual([`private_key:${block}`]);
  });

  it('masks a block without its footer to the end of the text', () => {
    const cut = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9u';
    expect(found(`before\n${cut}`)).toEqual([`private_key:${cut}`]);
  });

  it('finds a PGP private key block and leaves certificates and public keys visible', () => {
    const pgp = '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF...\n-----END PGP PRIVATE KEY BLOCK-----';
    expect(found(pgp)).toEqual([`private_key:${pgp}`]);
    expect(found('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----')).toEqual([]);
    expect(found('-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----')).toEqual([]);
  });
});

describe('bearer tokens', () => {
  it('finds the token of an Authorization header and labelled OAuth tokens', () => {
    expect(found('Authorization: Bearer abc.DEF-123_xyz~+/=')).toEqual(['bearer_token:abc.DEF-123_xyz~+/=']);
    expect(found('authorization: bearer 0123456789abcdef')).toEqual(['bearer_token:0123456789abcdef']);
    expect(found('{"access_token":"ya29.a0AfH6SMBx3kLmN0pQ"}')).toEqual(['bearer_token:ya29.a0AfH6SMBx3kLmN0pQ']);
  });

  it('leaves the word bearer and short values visible', () => {
    expect(found('the bearer of this letter')).toEqual([]);
    expect(found('Bearer short')).toEqual([]);
    expect(found('access_token: null')).toEqual([]);
  });
});

describe('custom entities (RE2 patterns, deny lists, scores)', () => {
  const custom = compileMaskingProfile(
    profileDefinition({
      threshold: 0.6,
      custom: [
        { name: 'employee_id', pattern: 'EMP-[0-9]{6}', score: 0.9 },
        { name: 'codename', denyList: ['nightjar', 'blue bird'] },
        { name: 'weak', pattern: 'maybe-[a-z]+', score: 0.5 },
      ],
    }),
  );
  const customFound = (text: string) => detect(text, custom).map((d) => `${d.kind}:${text.slice(d.start, d.end)}`);

  it('finds pattern matches and deny-listed words as whole words, ignoring case', () => {
    expect(customFound('EMP-004211 runs NightJar and Blue Bird')).toEqual(['employee_id:EMP-004211', 'codename:NightJar', 'codename:Blue Bird']);
  });

  it('leaves words containing a deny-listed one and matches below the threshold visible', () => {
    expect(customFound('nightjars EMP-12345 maybe-later')).toEqual([]);
  });

  it('runs only the entities a profile enables', () => {
    expect(customFound('alice@example.com 4111111111111111')).toEqual([]);
  });
});

describe('overlaps', () => {
  it('keeps the higher-scored, then the longer of two overlapping values', () => {
    expect(found('mailto:alice@10.0.0.1.example.com')).toEqual(['email:alice@10.0.0.1.example.com']);
    expect(found('::ffff:192.0.2.128')).toEqual(['ip_address:::ffff:192.0.2.128']);
    expect(found(`Bearer ${JWT}`)).toEqual([`jwt:${JWT}`]);
  });
});
