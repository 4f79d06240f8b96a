// platformatic.mjs BOOTSTRAP — spec.mjs's scenario with @platformatic/kafka
// (pure JavaScript, flexible protocol versions only). Prints what the
// client observed as JSON. Run by tests/compat/test_diff_js_platformatic.py.
// Its group members assign partitions themselves, with its round-robin
// assigner (it has no range assignor); zstd needs a Node with zlib zstd
// (22.15+), and the client says which codecs it has.
import * as kafka from '@platformatic/kafka'
import * as S from './spec.mjs'

const { Admin, Consumer, Producer } = kafka
const BS = process.argv[2]
const out = { client: '@platformatic/kafka' }

// A rejection as the client reports it: every leaf error's code, Kafka
// error (apiId, apiCode) and message.
function leaves (e) {
  return e.errors?.length ? e.errors.flatMap(leaves) : [[e.code ?? null, e.apiId ?? null, e.apiCode ?? null, e.message]]
}
async function outcome (p) {
  try {
    return ['ok', await p]
  } catch (e) {
    return ['error', leaves(e)]
  }
}

const admin = new Admin({ clientId: 'diff-admin', bootstrapBrokers: [BS] })
S.step('admin')
const created = await outcome(admin.createTopics({
  topics: [S.CFG],
  partitions: 2,
  replicas: 1,
  configs: Object.entries(S.CONFIGS).map(([name, value]) => ({ name, value }))
}))
// Topic ids are random on both brokers: only that there is one. The
// configs CreateTopics answers: the DESCRIBED ones compared; which names
// there are differs (nodata has fewer topic configs, see docs/protocol.md).
const pick = (o, keys) => Object.fromEntries(keys.filter(k => k in o).map(k => [k, o[k]]))
out.create = created[0] === 'ok'
  ? created[1].map(t => ({ ...t, id: !!t.id, configuration: pick(t.configuration, S.DESCRIBED) }))
  : created
out.create_config_names = created[0] === 'ok' ? Object.keys(created[1][0].configuration).sort() : null
for (const [t, n] of [[S.DATA, 3], [S.GRP, 4]]) await admin.createTopics({ topics: [t], partitions: n, replicas: 1 })
out.create_existing = await outcome(admin.createTopics({ topics: [S.CFG], partitions: 2, replicas: 1 }))
out.create_bad_replication = await outcome(admin.createTopics({ topics: ['rf3'], partitions: 1, replicas: 3 }))
out.create_bad_name = await outcome(admin.createTopics({ topics: ['bad/name'], partitions: 1, replicas: 1 }))
// (the order of the configs in the answer means nothing: sorted)
const byName = (a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0
const describe = async topic => {
  const r = await outcome(admin.describeConfigs({
    resources: [{ resourceType: 2, resourceName: topic, configurationKeys: S.DESCRIBED }]
  }))
  if (r[0] === 'ok') for (const res of r[1]) res.configs.sort(byName)
  return r
}
out.describe_configs = await describe(S.CFG)
out.describe_configs_missing = await describe(S.MISSING)
out.describe_configs_bad_name = await describe('bad/name')

S.step('create partitions')
const grow = (name, count) => outcome(admin.createPartitions({ topics: [{ name, count }] }))
out.create_partitions = await grow(S.CFG, 4)
out.create_partitions_fewer = await grow(S.CFG, 2)
out.create_partitions_same = await grow(S.CFG, 4)
out.create_partitions_missing = await grow(S.MISSING, 2)

S.step('metadata')
let md
await S.until(30, async () => {
  md = await admin.metadata({ topics: [S.CFG, S.DATA, S.GRP], forceUpdate: true })
  return md.topics.get(S.CFG)?.partitions.length === 4
}, 'topics not in Metadata')
out.metadata = [...md.topics.entries()].map(([name, t]) => [name, !!t.id, t.partitionsCount,
  t.partitions.map(p => [p.leader >= 0, p.replicas.length, p.isr?.length ?? null])]).sort()
out.metadata_brokers = md.brokers.size
out.metadata_missing = await outcome(admin.metadata({ topics: [S.MISSING], autocreateTopics: false, forceUpdate: true }))

S.step('produce')
const algos = kafka.compressionsAlgorithms || {}
out.codecs = S.CODECS.filter(c => !algos[c] || algos[c].available !== false)
out.delivery = []
for (const [ci, codec] of S.CODECS.entries()) {
  if (!out.codecs.includes(codec)) continue
  const p = new Producer({ clientId: `diff-${codec}`, bootstrapBrokers: [BS], idempotent: true, acks: -1, compression: codec })
  const messages = S.records(ci).map(([partition, key, value, headers, ts]) => ({
    topic: S.DATA, partition, key, value, headers: new Map(headers.map(([k, v]) => [Buffer.from(k), v])), timestamp: BigInt(ts)
  }))
  const r = await p.send({ messages })
  out.delivery.push([codec, r.offsets.map(o => [o.partition, o.offset]).sort((a, b) => a[0] - b[0])])
  await p.close()
}

S.step('consume')
async function read (want, options) {
  const c = new Consumer({ groupId: `reader-${options.mode}`, clientId: 'diff-reader', bootstrapBrokers: [BS], maxWaitTime: 300 })
  const stream = await c.consume({ autocommit: false, topics: [S.DATA], ...options })
  const got = []
  const timer = setTimeout(() => S.die(`read ${got.length} of ${want}`), 60000)
  for await (const m of stream) {
    got.push([m.partition, Number(m.offset), S.hex(m.key), S.hex(m.value),
      [...m.headers].map(([k, v]) => [k.toString(), S.hex(v)]), `${m.timestamp}`])
    if (got.length === want) break
  }
  clearTimeout(timer)
  await stream.close()
  await c.close()
  return got.sort((a, b) => a[0] - b[0] || a[1] - b[1])
}
const total = out.codecs.length * S.RECORDS_PER_CODEC
out.records = await read(total, { mode: 'earliest' })
out.after_seek = await read(total / 3 - 7, { mode: 'manual', offsets: [{ topic: S.DATA, partition: 1, offset: 7n }] })

S.step('offsets')
const oc = new Consumer({ groupId: 'diff-offsets', clientId: 'diff-offsets', bootstrapBrokers: [BS] })
out.list_offsets = await oc.listOffsets({ topics: [S.DATA] })
for (const ts of [S.T0 - 1, S.T0 + 30500, S.T0 + 10000000]) {
  out[`offsets_by_time_${ts}`] = await oc.listOffsetsWithTimestamps({ topics: [S.DATA], timestamp: BigInt(ts) })
}
out.delete_records = await outcome(admin.deleteRecords({ topics: [{ name: S.DATA, partitions: [{ partition: 0, offset: 4n }] }] }))
out.delete_records_missing = await outcome(admin.deleteRecords({ topics: [{ name: S.MISSING, partitions: [{ partition: 0, offset: 1n }] }] }))
await oc.close()

S.step('group')
const members = []
const streams = []
for (const i of [0, 1]) {
  const m = new Consumer({ groupId: S.GROUP, clientId: `member-${i}`, bootstrapBrokers: [BS], maxWaitTime: 300, sessionTimeout: 10000, heartbeatInterval: 500 })
  members.push(m)
  streams.push(await m.consume({ autocommit: false, topics: [S.GRP], mode: 'earliest' }))
}
const parts = m => (m.assignments ?? []).flatMap(a => a.partitions).sort()
out.assignment = await S.assigned(members, parts)
S.step('commit')
for (const m of members) {
  await m.commit({ offsets: parts(m).map(q => ({ topic: S.GRP, partition: q, offset: BigInt(10 + q), leaderEpoch: 0 })) })
}
out.committed = await members[0].listCommittedOffsets({ topics: [{ topic: S.GRP, partitions: [0, 1, 2, 3] }] })
S.step('describe group')
const dg = await admin.describeGroups({ groups: [S.GROUP] })
out.describe_group = [...dg.values()].map(g => ({
  id: g.id,
  state: g.state,
  protocolType: g.protocolType,
  protocol: g.protocol,
  clientIds: [...g.members.values()].map(m => m.clientId).sort(),
  assignments: [...g.members.values()].map(m => [...(m.assignments?.values() ?? [])]
    .flatMap(a => a.partitions).sort()).sort()
}))
for (const s of streams) await s.close()
for (const m of members) await m.close()
const lg = await admin.listGroups()
out.list_groups = [...lg.values()].map(g => [g.id, g.state, g.protocolType]).sort()
out.group_offsets = await outcome(admin.listConsumerGroupOffsets({ groups: [S.GROUP] }))
// (Kafka answers the partitions in no particular order: sorted)
if (out.group_offsets[0] === 'ok') {
  for (const g of out.group_offsets[1]) for (const t of g.topics) t.partitions.sort((a, b) => a.partitionIndex - b.partitionIndex)
}
await admin.close()
S.print(out)
