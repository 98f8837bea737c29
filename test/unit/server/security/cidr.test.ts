import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addressBytes, CidrList, parseCidr } from '../../../../src/server/security/cidr.js'
import { ErrorCode } from '../../../../src/errors.js'

test('IPv4 CIDRs match by prefix, and a bare address is a /32', () => {
  const list = new CidrList(['10.0.0.0/8', '192.168.1.7'])
  assert.equal(list.matches('10.255.1.2'), true)
  assert.equal(list.matches('11.0.0.1'), false)
  assert.equal(list.matches('192.168.1.7'), true)
  assert.equal(list.matches('192.168.1.8'), false)
  assert.equal(new CidrList(['172.16.0.0/12']).matches('172.31.255.255'), true)
  assert.equal(new CidrList(['172.16.0.0/12']).matches('172.32.0.0'), false)
})

test('IPv4-mapped IPv6 peers match IPv4 rules; /0 matches everything of its family', () => {
  const list = new CidrList(['127.0.0.0/8'])
  assert.equal(list.matches('::ffff:127.0.0.1'), true)
  assert.equal(new CidrList(['0.0.0.0/0']).matches('8.8.8.8'), true)
  assert.equal(new CidrList(['0.0.0.0/0']).matches('2001:db8::1'), false)
  assert.equal(new CidrList(['::/0']).matches('2001:db8::1'), true)
})

test('IPv6 CIDRs, compressed forms, odd prefix lengths and zone ids', () => {
  const list = new CidrList(['2001:db8::/32', 'fe80::/10', '::1'])
  assert.equal(list.matches('2001:db8:1234::5'), true)
  assert.equal(list.matches('2001:db9::'), false)
  assert.equal(list.matches('fe80::1%eth0'), true)
  assert.equal(list.matches('febf:ffff::1'), true)
  assert.equal(list.matches('fec0::1'), false)
  assert.equal(list.matches('::1'), true)
  assert.equal(list.matches('::2'), false)
  assert.deepEqual(addressBytes('1:2:3:4:5:6:7:8'), Buffer.from('00010002000300040005000600070008', 'hex'))
  assert.deepEqual(addressBytes('::ffff:1.2.3.4'), addressBytes('1.2.3.4'))
})

test('host bits are masked, and text is normalised', () => {
  assert.equal(parseCidr('10.1.2.3/8').text, '10.1.2.3/8')
  assert.equal(new CidrList(['10.1.2.3/8']).matches('10.200.0.1'), true)
})

test('garbage is refused with ADIT_ERR_CONFIG; non-addresses never match', () => {
  for (const bad of ['', 'abc', '10.0.0.0/33', '10.0.0/8', '::/129', '1.2.3.4/-1', '1.2.3.4/', '256.0.0.1']) {
    assert.throws(
      () => parseCidr(bad),
      (e: { code?: string }) => e.code === ErrorCode.CONFIG,
      bad,
    )
  }
  const list = new CidrList(['0.0.0.0/0'])
  assert.equal(list.matches(''), false)
  assert.equal(list.matches('not-an-ip'), false)
  assert.equal(list.matches('1.2.3.4.5'), false)
})
