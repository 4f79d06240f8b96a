// kafka_npm_client.mjs — a current JavaScript Kafka client
// (@platformatic/kafka, flexible protocol versions only) against
// `nodata serve`. Run by test_kafka_npm.sh: node kafka_npm_client.mjs HOST:PORT
//
// Admin: create topics (topic ids in Metadata), create partitions, describe,
// incremental-alter and alter configs, delete records, delete topics.
// Data: keyed produce with headers and binary values through every codec,
// idempotent producer; consume in a group with commits, leave, and resume
// from the committed offsets; offsets by time.
import * as kafka from '@platformatic/kafka'

const { Admin, Consumer, Producer } = kafka

const bs = process.argv[2]
const T = 'npm-topic'

function check (cond, msg) {
  if (!cond) {
    console.error('FAIL: ' + msg)
    process.exit(1)
  }
}

const show = v => JSON.stringify(v, (k, x) =>
  typeof x === 'bigint' ? x.toString() : x instanceof Map ? Object.fromEntries(x) : x)

const admin = new Admin({ clientId: 'npm-admin', bootstrapBrokers: [bs] })

const created = await admin.createTopics({ topics: [T], partitions: 2, replicas: 1 })
check(created.length === 1 && created[0].partitions === 2 && created[0].id,
  'createTopics: ' + show(created))
const md = await admin.metadata({ topics: [T] })
const mt = md.topics.get(T)
check(mt && mt.id === created[0].id && mt.partitions.length === 2,
  'metadata: ' + show(md))
check(md.controllerId === 0, 'controller ' + md.controllerId)

await admin.createPartitions({ topics: [{ name: T, count: 3 }] })
const md2 = await admin.metadata({ topics: [T], forceUpdate: true })
check(md2.topics.get(T).partitions.length === 3, 'createPartitions: ' + show(md2))

await admin.incrementalAlterConfigs({
  resources: [{
    resourceType: 2,
    resourceName: T,
    configs: [{ name: 'retention.ms', configOperation: 0, value: '3600000' }]
  }]
})
let dc = await admin.describeConfigs({
  resources: [{ resourceType: 2, resourceName: T, configurationKeys: ['retention.ms'] }]
})
check(dc[0].configs.find(c => c.name === 'retention.ms').value === '3600000',
  'describeConfigs after incremental alter: ' + show(dc))
await admin.alterConfigs({
  resources: [{ resourceType: 2, resourceName: T, configs: [{ name: 'retention.ms', value: '7200000' }] }]
})
dc = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: T }] })
check(dc[0].configs.find(c => c.name === 'retention.ms').value === '7200000',
  'describeConfigs after alter: ' + show(dc))

// Produce: every codec, keyed, headers, binary values, idempotent.
// zstd needs a Node.js with zlib zstd (22.15+); the client says which it has.
const algos = kafka.compressionsAlgorithms || {}
const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'].filter(c => !algos[c] || algos[c].available !== false)
console.log('codecs: ' + codecs.join(' '))
const sent = []
const t0 = Date.now()
for (const compression of codecs) {
  const p = new Producer({
    clientId: 'npm-producer-' + compression,
    bootstrapBrokers: [bs],
    idempotent: true,
    compression
  })
  const messages = []
  for (let i = 0; i < 20; i++) {
    const n = sent.length
    const value = Buffer.alloc(300, n % 256)
    value[0] = 0
    value[1] = 255
    value.writeUInt32BE(n, 2)
    const m = {
      topic: T,
      key: Buffer.from('key-' + n),
      value,
      headers: new Map([[Buffer.from('codec'), Buffer.from(compression)], [Buffer.from('n'), Buffer.from(String(n))]])
    }
    messages.push(m)
    sent.push({ ...m, codec: compression, n })
  }
  const r = await p.send({ messages })
  check(r.offsets && r.offsets.length > 0, 'send ' + compression + ': ' + show(r))
  await p.close()
}
const t1 = Date.now()

async function consumeGroup (group, mode, want, clientId) {
  const c = new Consumer({ groupId: group, clientId, bootstrapBrokers: [bs], maxWaitTime: 300 })
  const stream = await c.consume({
    autocommit: false,
    topics: [T],
    mode,
    sessionTimeout: 10000,
    heartbeatInterval: 500
  })
  const got = []
  const timer = setTimeout(() => { console.error('FAIL: timed out consuming (' + got.length + '/' + want + ')'); process.exit(1) }, 30000)
  for await (const m of stream) {
    got.push(m)
    await m.commit()
    if (got.length === want) break
  }
  clearTimeout(timer)
  await stream.close()
  await c.close()
  return got
}

const got = await consumeGroup('npm-group', 'earliest', sent.length, 'npm-c1')
const byKey = new Map(got.map(m => [m.key.toString(), m]))
check(byKey.size === sent.length, 'consumed ' + byKey.size + ' distinct of ' + sent.length)
for (const s of sent) {
  const m = byKey.get(s.key.toString())
  check(m && Buffer.compare(m.value, s.value) === 0, 'value of ' + s.key)
  const hs = [...m.headers].map(([k, v]) => k.toString() + '=' + v.toString())
  check(hs.length === 2 && hs[0] === 'codec=' + s.codec && hs[1] === 'n=' + s.n,
    'headers of ' + s.key + ': ' + hs)
}

// Resume from the committed offsets: only what is produced now comes back.
const p = new Producer({ clientId: 'npm-producer-more', bootstrapBrokers: [bs], idempotent: true })
const more = []
for (let i = 0; i < 10; i++) more.push({ topic: T, key: Buffer.from('more-' + i), value: Buffer.from('m' + i) })
await p.send({ messages: more })
await p.close()
const again = await consumeGroup('npm-group', 'committed', more.length, 'npm-c2')
check(again.every(m => m.key.toString().startsWith('more-')),
  'resume got old messages: ' + again.map(m => m.key.toString()))

// Offsets by time: before everything, and after everything.
const oc = new Consumer({ groupId: 'npm-times', clientId: 'npm-times', bootstrapBrokers: [bs] })
const early = await oc.listOffsetsWithTimestamps({ topics: [T], timestamp: BigInt(t0 - 1000) })
const e = early.get(T)
check(e && [...e.values()].every(x => x.offset === 0n), 'offsets at t0: ' + show(early))
const late = await oc.listOffsetsWithTimestamps({ topics: [T], timestamp: BigInt(Date.now() + 3600000) })
check([...late.get(T).values()].every(x => x.offset === -1n), 'offsets in the future: ' + show(late))
const committed = await oc.listCommittedOffsets({ topics: [{ topic: T, partitions: [0, 1, 2] }] })
check(committed.get(T) && committed.get(T).every(o => o === -1n), 'never committed: ' + show(committed))
await oc.close()
void t1

const dr = await admin.deleteRecords({ topics: [{ name: T, partitions: [{ partition: 0, offset: 1n }] }] })
check(dr[0].partitions[0].lowWatermark === 1n, 'deleteRecords: ' + show(dr))

await admin.deleteTopics({ topics: [T] })
const md3 = await admin.metadata({ topics: [], forceUpdate: true })
check(!md3.topics.has(T), 'topic still listed after delete')
await admin.close()
console.log('npm client: all checks passed')
