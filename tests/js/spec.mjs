// spec.mjs — the scenario's constants and records, as
// tests/compat/scenarios/spec.py has them, for the JavaScript programs
// (confluent.mjs, platformatic.mjs). Each prints one JSON document of what
// its client observed; tests/compat/test_diff_js_*.py compare the documents
// of Apache Kafka and nodata.
export const CFG = 'cfg'
export const DATA = 'data'
export const GRP = 'grp'
export const MISSING = 'no-such-topic'
export const CONFIGS = { 'retention.ms': '3600000', 'max.message.bytes': '200000', 'segment.bytes': '1048576' }
export const DESCRIBED = [...Object.keys(CONFIGS).sort(), 'message.timestamp.type', 'compression.type', 'retention.bytes']
export const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
export const RECORDS_PER_CODEC = 12
export const T0 = 1700000000000
export const GROUP = 'pair'

// [partition, key, value, headers, timestamp] for one codec's producer;
// one value is null (a tombstone). The same bytes as spec.py's records().
export function records (codecIndex) {
  const out = []
  for (let i = 0; i < RECORDS_PER_CODEC; i++) {
    const n = codecIndex * RECORDS_PER_CODEC + i
    const tail = []
    for (let r = 0; r < 30; r++) for (let b = 0; b < n % 7; b++) tail.push(b)
    const value = i === 5 ? null : Buffer.concat([Buffer.from(`v${n}-`), Buffer.from(tail)])
    out.push([n % 3, Buffer.from(`k${n % 5}`), value,
      [['n', Buffer.from(`${n}`)], ['empty', Buffer.alloc(0)]], T0 + 1000 * n])
  }
  return out
}

export const hex = b => b === null || b === undefined ? null : Buffer.from(b).toString('hex')

// JSON with Buffers as hex, BigInts and Maps made plain.
export function print (out) {
  process.stdout.write(JSON.stringify(out, (k, x) =>
    typeof x === 'bigint' ? x.toString()
      : x instanceof Map ? Object.fromEntries(x)
        : x && x.type === 'Buffer' && Array.isArray(x.data) ? Buffer.from(x.data).toString('hex') : x) + '\n')
}

export function die (msg) {
  process.stderr.write(msg + '\n')
  process.exit(1)
}

// Progress on stderr: run_program shows it when a program fails.
export const step = what => process.stderr.write(`step: ${what}\n`)

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Poll cond() until it is true; die with what() after `seconds`.
export async function until (seconds, cond, what) {
  const end = Date.now() + seconds * 1000
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) die(typeof what === 'function' ? what() : what)
    await sleep(200)
  }
}

// Wait until the members' assignments (parts(m): a member's partitions of
// GRP) cover GRP's 4 partitions, each member having some; returns them.
export async function assigned (members, parts) {
  await until(60, () => members.every(m => parts(m).length) &&
    members.reduce((n, m) => n + parts(m).length, 0) === 4,
  () => 'no stable assignment: ' + JSON.stringify(members.map(parts)))
  return members.map(parts).sort()
}
