// confluent.mjs BOOTSTRAP — spec.mjs's scenario with
// @confluentinc/kafka-javascript (librdkafka underneath): its KafkaJS-style
// API, and its node-rdkafka-style AdminClient for CreatePartitions (the
// KafkaJS-style admin has none). Prints what the client observed as JSON.
// The client has no DescribeConfigs API at all. Run by
// tests/compat/test_diff_js_confluent.py.
import rdkafka from '@confluentinc/kafka-javascript'
import * as S from './spec.mjs'

const { Kafka, CompressionTypes, PartitionAssigners, logLevel } = rdkafka.KafkaJS
const BS = process.argv[2]
const out = { client: '@confluentinc/kafka-javascript' }
const kafka = new Kafka({ kafkaJS: { brokers: [BS], logLevel: logLevel.NOTHING } })

// A rejection as the client reports it: its type (Kafka's error name),
// its code, and the broker's message where it carries one.
function error (e) {
  const all = e.errors ?? [e]
  return all.map(x => [x.type ?? null, x.code ?? null, x.message ?? null])
}
async function outcome (p) {
  try {
    return ['ok', await p]
  } catch (e) {
    return ['error', error(e)]
  }
}

const admin = kafka.admin()
await admin.connect()

S.step('admin')
// Admin: topics, partitions, metadata, and their error paths.
out.create = await outcome(admin.createTopics({
  topics: [{
    topic: S.CFG, numPartitions: 2, replicationFactor: 1,
    configEntries: Object.entries(S.CONFIGS).map(([name, value]) => ({ name, value }))
  }]
}))
for (const [t, n] of [[S.DATA, 3], [S.GRP, 4]]) {
  await admin.createTopics({ topics: [{ topic: t, numPartitions: n, replicationFactor: 1 }] })
}
out.create_existing = await outcome(admin.createTopics({ topics: [{ topic: S.CFG, numPartitions: 2 }] }))
out.create_bad_replication = await outcome(admin.createTopics({ topics: [{ topic: 'rf3', numPartitions: 1, replicationFactor: 3 }] }))
out.create_bad_name = await outcome(admin.createTopics({ topics: [{ topic: 'bad/name', numPartitions: 1 }] }))

S.step('create partitions')
const rd = rdkafka.AdminClient.create({ 'bootstrap.servers': BS })
const grow = (topic, n) => outcome(new Promise((resolve, reject) =>
  rd.createPartitions(topic, n, 30000, err => err ? reject(err) : resolve(null))))
out.create_partitions = await grow(S.CFG, 4)
out.create_partitions_fewer = await grow(S.CFG, 2)
out.create_partitions_same = await grow(S.CFG, 4)
out.create_partitions_missing = await grow(S.MISSING, 2)
rd.disconnect()

S.step('metadata')
// Kafka's metadata follows its controller a moment later: wait for it.
let md
await S.until(30, async () => {
  const got = await outcome(admin.fetchTopicMetadata({ topics: [S.CFG, S.DATA, S.GRP] }))
  md = got[0] === 'ok' ? got[1] : null
  return md && md.find(t => t.name === S.CFG).partitions.length === 4
}, 'topics not in Metadata')
// Topic ids are random on both brokers: only that there is one.
out.metadata = md.map(t => [t.name, !!t.topicId, t.isInternal, t.authorizedOperations ?? null,
  t.partitions.map(p => [p.partitionId, p.partitionErrorCode, p.leader >= 0,
    p.replicas.length, p.isr.length]).sort((a, b) => a[0] - b[0])]).sort()
out.metadata_missing = await outcome(admin.fetchTopicMetadata({ topics: [S.MISSING] }))

S.step('produce')
// Produce: an idempotent producer, acks=all, per codec.
const codec = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.SNAPPY, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }
out.delivery = []
for (const [ci, name] of S.CODECS.entries()) {
  const p = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, compression: codec[name] }, 'linger.ms': 20 })
  await p.connect()
  const sent = await Promise.all(S.records(ci).map(([partition, key, value, headers, ts]) =>
    p.send({ topic: S.DATA, messages: [{ partition, key, value, headers: Object.fromEntries(headers), timestamp: `${ts}` }] })))
  for (const s of sent) for (const m of s) out.delivery.push([name, m.partition, m.errorCode, m.baseOffset])
  await p.disconnect()
}
out.delivery.sort((a, b) => a[1] - b[1] || a[3] - b[3])

// Consume everything from the beginning, then seek partition 1 to 7.
async function readAll (groupId, want, seekTo) {
  const got = []
  const c = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false } })
  await c.connect()
  await c.subscribe({ topic: S.DATA })
  let seeked = !seekTo
  await c.run({
    eachMessage: async ({ partition, message: m }) => {
      if (!seeked) {
        seeked = true
        c.seek({ topic: S.DATA, partition: seekTo[0], offset: `${seekTo[1]}` })
        return
      }
      if (seekTo && partition !== seekTo[0]) return
      got.push([partition, Number(m.offset), S.hex(m.key), S.hex(m.value),
        Object.entries(m.headers ?? {}).map(([k, v]) => [k, S.hex(v)]), m.timestamp])
    }
  })
  await S.until(60, () => new Set(got.map(r => `${r[0]}/${r[1]}`)).size >= want,
    () => `read ${got.length} of ${want}`)
  await c.disconnect()
  const seen = new Map(got.map(r => [`${r[0]}/${r[1]}`, r]))
  return [...seen.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1])
}
S.step('consume')
out.records = await readAll('reader', 60)
out.after_seek = await readAll('seeker', 13, [1, 7])

S.step('offsets')
// ListOffsets: watermarks and by time; DeleteRecords.
out.offsets = (await admin.fetchTopicOffsets(S.DATA)).sort((a, b) => a.partition - b.partition)
for (const ts of [S.T0 - 1, S.T0 + 30500, S.T0 + 10000000]) {
  out[`offsets_by_time_${ts}`] = (await admin.fetchTopicOffsetsByTimestamp(S.DATA, ts))
    .sort((a, b) => a.partition - b.partition)
}
out.delete_records = await outcome(admin.deleteTopicRecords({ topic: S.DATA, partitions: [{ partition: 0, offset: '4' }] }))
out.delete_records_missing = await outcome(admin.deleteTopicRecords({ topic: S.MISSING, partitions: [{ partition: 0, offset: '1' }] }))
out.offsets_after_delete = (await admin.fetchTopicOffsets(S.DATA)).sort((a, b) => a.partition - b.partition)

S.step('group')
// A group of two with the range assignor.
const members = [0, 1].map(i => kafka.consumer({
  kafkaJS: { groupId: S.GROUP, partitionAssigners: [PartitionAssigners.range], autoCommit: false },
  'client.id': `member-${i}`
}))
for (const m of members) {
  await m.connect()
  await m.subscribe({ topic: S.GRP })
  await m.run({ eachMessage: async () => {} })
}
const parts = m => m.assignment().map(a => a.partition).sort()
out.assignment = await S.assigned(members, parts)
S.step('commit')
for (const m of members) {
  await m.commitOffsets(parts(m).map(q => ({ topic: S.GRP, partition: q, offset: `${10 + q}` })))
}
out.committed = (await members[0].committed([0, 1, 2, 3].map(q => ({ topic: S.GRP, partition: q }))))
  .map(t => [t.partition, t.offset]).sort()
S.step('describe group')
const dg = await admin.describeGroups([S.GROUP])
out.describe_group = dg.groups.map(g => ({
  groupId: g.groupId,
  protocol: g.protocol,
  protocolType: g.protocolType,
  state: g.state,
  isSimple: g.isSimpleConsumerGroup,
  clientIds: g.members.map(m => m.clientId).sort(),
  assignments: g.members.map(m => m.assignment?.topicPartitions?.map(t => t.partition).sort() ?? null).sort(),
  error: g.error ?? null
}))
for (const m of members) await m.disconnect()
out.list_groups = (await admin.listGroups()).groups.map(g =>
  [g.groupId, g.protocolType, g.state, g.isSimpleConsumerGroup]).sort()
out.fetch_offsets = (await admin.fetchOffsets({ groupId: S.GROUP, topics: [S.GRP] }))
  .map(t => [t.topic, t.partitions.map(p => [p.partition, p.offset]).sort()])
await admin.disconnect()
S.print(out)
