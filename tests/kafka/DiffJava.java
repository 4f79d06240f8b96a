// DiffJava.java — one scenario of the reference Java client (kafka-clients
// 4.x) against a broker, printing everything the client observed as one JSON
// document on stdout. tests/compat/test_diff_java.py runs it against Apache
// Kafka and against nodata and compares the two documents field by field.
//
//   java -cp CLASSPATH DiffJava.java BOOTSTRAP
//
// (single-file source launch: no build step; CLASSPATH is what
// tests/compat/apache_kafka.classpath() returns.)
//
// Only what a client can observe is printed, and only what is deterministic:
// client-generated and broker-generated ids (member ids, topic ids, producer
// ids) are printed as "present"/"absent", the broker's node id as "N" (the
// node the cluster describes), so that the one-node brokers can be compared.
// Errors are printed as the exception class the client raised.

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class DiffJava {
    static final long T0 = 1_700_000_000_000L;
    static final Duration POLL = Duration.ofMillis(100);
    static String bootstrap;
    static int nodeId = Integer.MIN_VALUE;
    static final Map<String, Object> out = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        try (Admin admin = Admin.create(props("client.id", "diff-admin"))) {
            cluster(admin);
            topics(admin);
            configs(admin);
            produce(admin);
            consumeAssigned();
            group(admin);
            adminOffsets(admin);
            deleteTopics(admin);
        }
        ObjectMapper m = new ObjectMapper();
        m.enable(SerializationFeature.INDENT_OUTPUT);
        System.out.println(m.writeValueAsString(out));
    }

    // ---- helpers -------------------------------------------------------

    static Properties props(String... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return p;
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    interface Call<T> {
        T get() throws Exception;
    }

    // The exception class a call raised (the cause of an ExecutionException,
    // as KafkaFuture wraps them), or null when it succeeded.
    static String error(Call<?> c) {
        try {
            c.get();
            return null;
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (Exception e) {
            return e.getClass().getSimpleName();
        }
    }

    // Kafka applies admin changes through its controller and the broker
    // learns of them a moment later: a describe right after a change may
    // show the state before it. So a describe that follows a change is
    // repeated until it shows the change (for at most 30 s; then the last
    // answer is printed, and the comparison shows what never changed).
    static <T> T settle(Call<T> c, java.util.function.Predicate<T> done)
            throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        T last = null;
        while (true) {
            try {
                last = c.get();
                if (done.test(last)) return last;
            } catch (Exception e) {
                last = null;
            }
            if (System.nanoTime() > deadline) return last;
            Thread.sleep(100);
        }
    }

    static int partitionCount(Map<String, Object> topic) {
        return topic == null ? -1 : ((List<?>) topic.get("partitions")).size();
    }

    @SuppressWarnings("unchecked")
    static String configValue(Object configs, String name) {
        Object e = configs == null ? null : ((Map<String, Object>) configs).get(name);
        return e == null ? null : (String) ((Map<String, Object>) e).get("value");
    }

    static Object node(Node n) {
        if (n == null) return null;
        return n.id() == nodeId ? "N" : "node " + n.id();
    }

    static String present(Object o) {
        return o == null ? "absent" : "present";
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    static String tp(TopicPartition t) {
        return t.topic() + "-" + t.partition();
    }

    static List<String> sortedTps(Collection<TopicPartition> c) {
        List<String> l = new ArrayList<>();
        for (TopicPartition t : c) l.add(tp(t));
        Collections.sort(l);
        return l;
    }

    static List<TopicPartition> parts(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    static Map<String, Object> offsets(Map<TopicPartition, ?> m) {
        Map<String, Object> r = new TreeMap<>();
        for (Map.Entry<TopicPartition, ?> e : m.entrySet()) {
            Object v = e.getValue();
            if (v instanceof OffsetAndMetadata) {
                OffsetAndMetadata o = (OffsetAndMetadata) v;
                v = map("offset", o.offset(), "metadata", o.metadata(),
                        "leader_epoch", o.leaderEpoch().orElse(null));
            } else if (v instanceof OffsetAndTimestamp) {
                OffsetAndTimestamp o = (OffsetAndTimestamp) v;
                v = map("offset", o.offset(), "timestamp", o.timestamp(),
                        "leader_epoch", o.leaderEpoch().orElse(null));
            } else if (v instanceof ListOffsetsResult.ListOffsetsResultInfo) {
                ListOffsetsResult.ListOffsetsResultInfo o =
                        (ListOffsetsResult.ListOffsetsResultInfo) v;
                v = map("offset", o.offset(), "timestamp", o.timestamp(),
                        "leader_epoch", o.leaderEpoch().orElse(null));
            }
            r.put(tp(e.getKey()), v);
        }
        return r;
    }

    static void fail(String msg) {
        System.err.println("DiffJava: " + msg);
        System.exit(1);
    }

    // ---- cluster -------------------------------------------------------

    static void cluster(Admin admin) throws Exception {
        DescribeClusterResult r = admin.describeCluster(
                new DescribeClusterOptions().includeAuthorizedOperations(true));
        Collection<Node> nodes = r.nodes().get();
        if (nodes.size() == 1) nodeId = nodes.iterator().next().id();
        List<Object> ns = new ArrayList<>();
        for (Node n : nodes)
            ns.add(map("id", node(n), "host", n.host(), "port",
                    n.port() == Integer.parseInt(bootstrap.split(":")[1])
                            ? "the bootstrap port" : n.port(),
                    "rack", n.rack()));
        Set<String> ops = new TreeSet<>();
        for (var op : r.authorizedOperations().get()) ops.add(op.toString());
        out.put("cluster", map("nodes", ns, "controller", node(r.controller().get()),
                "cluster_id", present(r.clusterId().get()),
                "authorized_operations", ops));
    }

    // ---- topics --------------------------------------------------------

    static Map<String, Object> describeTopic(Admin admin, String name) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(name),
                new DescribeTopicsOptions().includeAuthorizedOperations(true))
                .allTopicNames().get().get(name);
        List<Object> ps = new ArrayList<>();
        for (TopicPartitionInfo p : d.partitions()) {
            List<Object> reps = new ArrayList<>(), isr = new ArrayList<>();
            for (Node n : p.replicas()) reps.add(node(n));
            for (Node n : p.isr()) isr.add(node(n));
            ps.add(map("partition", p.partition(), "leader", node(p.leader()),
                    "replicas", reps, "isr", isr, "elr", p.elr() == null ? null : p.elr().size(),
                    "last_known_elr", p.lastKnownElr() == null ? null : p.lastKnownElr().size()));
        }
        Set<String> ops = new TreeSet<>();
        for (var op : d.authorizedOperations()) ops.add(op.toString());
        return map("name", d.name(), "internal", d.isInternal(),
                "topic_id", d.topicId() == null || d.topicId().equals(Uuid.ZERO_UUID)
                        ? "absent" : "present",
                "partitions", ps, "authorized_operations", ops);
    }

    static void topics(Admin admin) throws Exception {
        Map<String, Object> t = new LinkedHashMap<>();
        CreateTopicsResult cr = admin.createTopics(List.of(
                new NewTopic("jt", 3, (short) 1).configs(Map.of(
                        "retention.ms", "86400000", "segment.bytes", "1048576")),
                new NewTopic("jt-default", Optional.empty(), Optional.empty()),
                // Records are timestamped in 2023: no time retention, or
                // Kafka's retention check would delete them mid-run.
                new NewTopic("jp", 3, (short) 1).configs(Map.of("retention.ms", "-1")),
                new NewTopic("jg", 5, (short) 1).configs(Map.of("retention.ms", "-1")),
                new NewTopic("jlat", 1, (short) 1).configs(
                        Map.of("message.timestamp.type", "LogAppendTime"))));
        cr.all().get();
        Map<String, Object> created = new TreeMap<>();
        for (String n : List.of("jt", "jt-default", "jp", "jg", "jlat"))
            created.put(n, map("partitions", cr.numPartitions(n).get(),
                    "replication_factor", cr.replicationFactor(n).get(),
                    "topic_id", present(cr.topicId(n).get()),
                    "config", configEntries(cr.config(n).get(), false)));
        t.put("create", created);

        // The error paths of CreateTopics.
        t.put("create_existing", error(() -> admin.createTopics(
                List.of(new NewTopic("jt", 1, (short) 1))).all().get()));
        t.put("create_zero_partitions", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-zero", 0, (short) 1))).all().get()));
        t.put("create_negative_partitions", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-neg", -5, (short) 1))).all().get()));
        t.put("create_replication_3", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-rf", 1, (short) 3))).all().get()));
        t.put("create_bad_config_value", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-badconf", 1, (short) 1).configs(
                        Map.of("retention.ms", "soon")))).all().get()));
        t.put("create_unknown_config", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-unknownconf", 1, (short) 1).configs(
                        Map.of("no.such.config", "1")))).all().get()));
        t.put("create_bad_name", error(() -> admin.createTopics(
                List.of(new NewTopic("bad/name", 1, (short) 1))).all().get()));
        t.put("create_validate_only", error(() -> admin.createTopics(
                List.of(new NewTopic("jt-validate", 2, (short) 1)),
                new CreateTopicsOptions().validateOnly(true)).all().get()));

        t.put("describe_jt", settle(() -> describeTopic(admin, "jt"),
                d -> partitionCount(d) == 3));
        t.put("describe_jt_default", settle(() -> describeTopic(admin, "jt-default"),
                d -> d != null));
        t.put("describe_missing", error(() -> describeTopic(admin, "jt-missing")));

        t.put("create_partitions", error(() -> admin.createPartitions(
                Map.of("jt", NewPartitions.increaseTo(5))).all().get()));
        t.put("create_partitions_fewer", error(() -> admin.createPartitions(
                Map.of("jt", NewPartitions.increaseTo(2))).all().get()));
        t.put("create_partitions_same", error(() -> admin.createPartitions(
                Map.of("jt", NewPartitions.increaseTo(5))).all().get()));
        t.put("create_partitions_missing", error(() -> admin.createPartitions(
                Map.of("jt-missing", NewPartitions.increaseTo(5))).all().get()));
        t.put("describe_jt_after_create_partitions", settle(() -> describeTopic(admin, "jt"),
                d -> partitionCount(d) == 5));

        t.put("list", settle(() -> new TreeSet<>(admin.listTopics().names().get()),
                l -> l.containsAll(List.of("jt", "jt-default", "jp", "jg", "jlat"))));
        out.put("topics", t);
    }

    // ---- configs -------------------------------------------------------

    // Config entries by name. Kafka describes more topic configs than nodata
    // has (and nodata has `fsync`); the test compares the ones both have and
    // lists the names apart. Documentation strings are left out: they are
    // prose.
    static Map<String, Object> configEntries(Config c, boolean full) {
        Map<String, Object> r = new TreeMap<>();
        for (ConfigEntry e : c.entries()) {
            Map<String, Object> m = map("value", e.value(), "source", String.valueOf(e.source()),
                    "is_default", e.isDefault(), "is_sensitive", e.isSensitive(),
                    "is_read_only", e.isReadOnly());
            if (full) {
                m.put("type", String.valueOf(e.type()));
                List<Object> syn = new ArrayList<>();
                for (ConfigEntry.ConfigSynonym s : e.synonyms())
                    syn.add(map("name", s.name(), "value", s.value(),
                            "source", String.valueOf(s.source())));
                m.put("synonyms", syn);
            }
            r.put(e.name(), m);
        }
        return r;
    }

    static Object describeConfigs(Admin admin, ConfigResource res) throws Exception {
        return configEntries(admin.describeConfigs(List.of(res),
                new DescribeConfigsOptions().includeSynonyms(true)
                        .includeDocumentation(false))
                .all().get().get(res), true);
    }

    static void configs(Admin admin) throws Exception {
        Map<String, Object> c = new LinkedHashMap<>();
        ConfigResource jt = new ConfigResource(ConfigResource.Type.TOPIC, "jt");
        c.put("describe_jt", describeConfigs(admin, jt));
        c.put("alter", error(() -> admin.incrementalAlterConfigs(Map.of(jt, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"),
                        AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"),
                        AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("segment.bytes", null),
                        AlterConfigOp.OpType.DELETE)))).all().get()));
        c.put("describe_jt_after_alter", settle(() -> describeConfigs(admin, jt),
                d -> "3600000".equals(configValue(d, "retention.ms"))
                        && "2000000".equals(configValue(d, "max.message.bytes"))
                        && !"1048576".equals(configValue(d, "segment.bytes"))));
        c.put("alter_bad_value", error(() -> admin.incrementalAlterConfigs(Map.of(jt, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "soon"),
                        AlterConfigOp.OpType.SET)))).all().get()));
        c.put("alter_unknown_config", error(() -> admin.incrementalAlterConfigs(Map.of(jt, List.of(
                new AlterConfigOp(new ConfigEntry("no.such.config", "1"),
                        AlterConfigOp.OpType.SET)))).all().get()));
        c.put("alter_missing_topic", error(() -> admin.incrementalAlterConfigs(Map.of(
                new ConfigResource(ConfigResource.Type.TOPIC, "jt-missing"), List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "1000"),
                        AlterConfigOp.OpType.SET)))).all().get()));
        c.put("alter_validate_only", error(() -> admin.incrementalAlterConfigs(Map.of(jt, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7"),
                        AlterConfigOp.OpType.SET))),
                new AlterConfigsOptions().validateOnly(true)).all().get()));
        c.put("describe_missing_topic", error(() -> describeConfigs(admin,
                new ConfigResource(ConfigResource.Type.TOPIC, "jt-missing"))));
        c.put("describe_jt_final", describeConfigs(admin, jt));
        out.put("configs", c);
    }

    // ---- producer ------------------------------------------------------

    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};

    // 15 producers in turn, each sending 6 records to "jp" (two to each of its
    // 3 partitions) with keys, headers and explicit timestamps: idempotent
    // acks=all, then acks=1 and acks=0, each with every compression type.
    static void produce(Admin admin) throws Exception {
        List<Object> sends = new ArrayList<>();
        int i = 0;
        for (String acks : List.of("all", "1", "0")) {
            for (String codec : CODECS) {
                Properties p = props("acks", acks, "compression.type", codec,
                        "enable.idempotence", acks.equals("all") ? "true" : "false",
                        "linger.ms", "20", "client.id", "p-" + acks + "-" + codec,
                        "key.serializer", ByteArraySerializer.class.getName(),
                        "value.serializer", ByteArraySerializer.class.getName());
                List<Object> meta = new ArrayList<>();
                try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
                    List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
                    for (int k = 0; k < 6; k++, i++) {
                        // One record of partition 1 is the newest of all, for
                        // ListOffsets' max timestamp.
                        long ts = (i == 40) ? T0 + 10_000_000 : T0 + 1000L * i;
                        byte[] value = i == 17 ? null
                                : ("value " + i + " " + "x".repeat(i * 7)).getBytes();
                        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>("jp",
                                k % 3, ts, ("key-" + (i % 5)).getBytes(), value);
                        r.headers().add("h", ("" + i).getBytes());
                        r.headers().add("empty", new byte[0]);
                        fs.add(prod.send(r));
                    }
                    prod.flush();
                    for (var f : fs) {
                        RecordMetadata m = f.get();
                        meta.add(map("partition", m.partition(), "offset", m.offset(),
                                "timestamp", m.timestamp(), "has_offset", m.hasOffset(),
                                "has_timestamp", m.hasTimestamp(),
                                "key_size", m.serializedKeySize(),
                                "value_size", m.serializedValueSize()));
                    }
                }
                sends.add(map("acks", acks, "compression", codec, "metadata", meta));
            }
        }
        // LogAppendTime: the broker's clock, not the producer's timestamp, in
        // the metadata (so only how they relate is printed).
        Map<String, Object> lat;
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(props(
                "acks", "all", "key.serializer", ByteArraySerializer.class.getName(),
                "value.serializer", ByteArraySerializer.class.getName()))) {
            RecordMetadata m = prod.send(new ProducerRecord<>("jlat", 0, T0, null,
                    "lat".getBytes())).get();
            ConsumerRecord<byte[], byte[]> rec = readAll(List.of(new TopicPartition("jlat", 0)),
                    Map.of(new TopicPartition("jlat", 0), 1L)).get(0);
            lat = map("offset", m.offset(),
                    "metadata_timestamp_is_the_producers", m.timestamp() == T0,
                    "metadata_timestamp_is_the_records", m.timestamp() == rec.timestamp(),
                    "record_timestamp_type", rec.timestampType().toString());
        }
        out.put("produce", map("sends", sends, "log_append_time", lat));
    }

    // ---- consumer, assigned ----------------------------------------------

    static KafkaConsumer<byte[], byte[]> consumer(String... kv) {
        Properties p = props("key.deserializer", ByteArrayDeserializer.class.getName(),
                "value.deserializer", ByteArrayDeserializer.class.getName(),
                "enable.auto.commit", "false", "auto.offset.reset", "earliest");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaConsumer<>(p);
    }

    // Every record of the partitions up to the given end offsets, from the
    // beginning, in partition and offset order.
    static List<ConsumerRecord<byte[], byte[]>> readAll(List<TopicPartition> tps,
            Map<TopicPartition, Long> ends) {
        List<ConsumerRecord<byte[], byte[]>> recs = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (true) {
                boolean done = true;
                for (TopicPartition t : tps)
                    if (c.position(t) < ends.get(t)) done = false;
                if (done) break;
                if (System.nanoTime() > deadline) fail("reading " + tps + ": stuck");
                for (ConsumerRecord<byte[], byte[]> r : c.poll(POLL)) recs.add(r);
            }
        }
        recs.sort(Comparator.comparing((ConsumerRecord<byte[], byte[]> r) -> r.partition())
                .thenComparing(ConsumerRecord::offset));
        return recs;
    }

    static Map<String, Object> record(ConsumerRecord<byte[], byte[]> r) {
        List<Object> hs = new ArrayList<>();
        for (Header h : r.headers()) hs.add(List.of(h.key(), str(h.value())));
        return map("partition", r.partition(), "offset", r.offset(), "key", str(r.key()),
                "value", str(r.value()), "headers", hs, "timestamp", r.timestamp(),
                "timestamp_type", r.timestampType().toString(),
                "leader_epoch", r.leaderEpoch().orElse(null),
                "key_size", r.serializedKeySize(), "value_size", r.serializedValueSize());
    }

    // The first record a poll returns (null if none comes in 60 s).
    static Map<String, Object> firstRecord(KafkaConsumer<byte[], byte[]> c) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline)
            for (var r : c.poll(POLL)) return record(r);
        return null;
    }

    static void consumeAssigned() {
        Map<String, Object> c = new LinkedHashMap<>();
        List<TopicPartition> jp = parts("jp", 3);
        try (KafkaConsumer<byte[], byte[]> k = consumer()) {
            Map<TopicPartition, Long> ends = k.endOffsets(jp);
            c.put("beginning_offsets", offsets(k.beginningOffsets(jp)));
            c.put("end_offsets", offsets(ends));
            List<Object> recs = new ArrayList<>();
            for (var r : readAll(jp, ends)) recs.add(record(r));
            c.put("records", recs);
            Map<String, Object> times = new LinkedHashMap<>();
            for (long ts : new long[] {T0 - 1, T0 + 30_500, T0 + 89_000, T0 + 89_001,
                    T0 + 10_000_000, T0 + 10_000_001}) {
                Map<TopicPartition, Long> q = new HashMap<>();
                for (TopicPartition t : jp) q.put(t, ts);
                times.put("" + ts, offsets(k.offsetsForTimes(q)));
            }
            c.put("offsets_for_times", times);

            TopicPartition p1 = new TopicPartition("jp", 1);
            k.assign(List.of(p1));
            k.seek(p1, 7);
            c.put("after_seek_7", firstRecord(k));
            k.seek(p1, new OffsetAndMetadata(3, "ignored"));
            c.put("position_after_seek_3", k.position(p1));
            k.seekToEnd(List.of(p1));
            c.put("position_after_seek_to_end", k.position(p1));
            k.seekToBeginning(List.of(p1));
            c.put("position_after_seek_to_beginning", k.position(p1));
            // Seek by time: offsetsForTimes, then seek to what it found.
            OffsetAndTimestamp at = k.offsetsForTimes(Map.of(p1, T0 + 45_500)).get(p1);
            k.seek(p1, at.offset());
            c.put("after_seek_by_time", firstRecord(k));
            k.seek(p1, 1000);
            // Past the end: auto.offset.reset=earliest brings it back.
            c.put("after_seek_past_end", firstRecord(k));
        }
        out.put("consume_assigned", c);
    }

    // ---- consumer group --------------------------------------------------

    static final class Listener implements ConsumerRebalanceListener {
        final List<Object> events = new ArrayList<>();

        public void onPartitionsRevoked(Collection<TopicPartition> ps) {
            events.add(List.of("revoked", sortedTps(ps)));
        }

        public void onPartitionsAssigned(Collection<TopicPartition> ps) {
            events.add(List.of("assigned", sortedTps(ps)));
        }

        public void onPartitionsLost(Collection<TopicPartition> ps) {
            events.add(List.of("lost", sortedTps(ps)));
        }
    }

    static KafkaConsumer<byte[], byte[]> member(String instance) {
        // Static members (group.instance.id) so that the range assignor orders
        // them by instance id, not by the broker's random member ids: the
        // assignment is the same on every run.
        return consumer("group.id", "jgroup", "group.protocol", "classic",
                "group.instance.id", instance, "client.id", "c-" + instance,
                "partition.assignment.strategy", RangeAssignor.class.getName(),
                "session.timeout.ms", "10000", "heartbeat.interval.ms", "500");
    }

    static Map<String, Object> describeGroup(ConsumerGroupDescription d) {
        List<Map<String, Object>> ms = new ArrayList<>();
        for (MemberDescription m : d.members())
            ms.add(map("member_id", m.consumerId().isEmpty() ? "absent" : "present",
                    "group_instance_id", m.groupInstanceId().orElse(null),
                    "client_id", m.clientId(), "host", m.host(),
                    "assignment", sortedTps(m.assignment().topicPartitions()),
                    "target_assignment", m.targetAssignment().isPresent()
                            ? sortedTps(m.targetAssignment().get().topicPartitions()) : null,
                    "member_epoch", m.memberEpoch().orElse(null),
                    "upgraded", m.upgraded().orElse(null)));
        ms.sort(Comparator.comparing(m -> String.valueOf(m.get("client_id"))));
        Set<String> ops = new TreeSet<>();
        if (d.authorizedOperations() != null)
            for (var op : d.authorizedOperations()) ops.add(op.toString());
        return map("group_id", d.groupId(), "simple", d.isSimpleConsumerGroup(),
                "members", ms, "partition_assignor", d.partitionAssignor(),
                "type", String.valueOf(d.type()), "state", String.valueOf(d.groupState()),
                "coordinator", node(d.coordinator()), "authorized_operations", ops,
                "group_epoch", d.groupEpoch().orElse(null),
                "target_assignment_epoch", d.targetAssignmentEpoch().orElse(null));
    }

    static Object describeGroups(Admin admin, String... ids) {
        Map<String, Object> r = new TreeMap<>();
        DescribeConsumerGroupsResult res = admin.describeConsumerGroups(List.of(ids),
                new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true));
        for (String id : ids) {
            try {
                r.put(id, describeGroup(res.describedGroups().get(id).get()));
            } catch (Exception e) {
                r.put(id, error(() -> { throw e; }));
            }
        }
        return r;
    }

    static Object listGroups(Admin admin, ListGroupsOptions o) throws Exception {
        List<Object> l = new ArrayList<>();
        for (GroupListing g : admin.listGroups(o).all().get())
            l.add(map("group_id", g.groupId(), "type", String.valueOf(g.type().orElse(null)),
                    "protocol", g.protocol(), "state",
                    String.valueOf(g.groupState().orElse(null)),
                    "simple", g.isSimpleConsumerGroup()));
        l.sort(Comparator.comparing(Object::toString));
        return l;
    }

    // The Admin's older listConsumerGroups (deprecated in 4.x, still used).
    @SuppressWarnings({"deprecation", "removal"})
    static Object listConsumerGroups(Admin admin) throws Exception {
        List<Object> l = new ArrayList<>();
        for (ConsumerGroupListing g : admin.listConsumerGroups().all().get())
            l.add(map("group_id", g.groupId(), "simple", g.isSimpleConsumerGroup(),
                    "state", String.valueOf(g.groupState().orElse(null)),
                    "type", String.valueOf(g.type().orElse(null))));
        l.sort(Comparator.comparing(Object::toString));
        return l;
    }

    static void group(Admin admin) throws Exception {
        Map<String, Object> g = new LinkedHashMap<>();
        List<TopicPartition> jg = parts("jg", 5);
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(props(
                "key.serializer", ByteArraySerializer.class.getName(),
                "value.serializer", ByteArraySerializer.class.getName()))) {
            for (int i = 0; i < 10; i++)
                prod.send(new ProducerRecord<>("jg", i % 5, T0 + i, null,
                        ("g" + i).getBytes()));
            prod.flush();
        }
        Listener la = new Listener(), lb = new Listener();
        KafkaConsumer<byte[], byte[]> a = member("a"), b = member("b");
        try {
            a.subscribe(List.of("jg"), la);
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (a.assignment().size() != 5) {
                if (System.nanoTime() > deadline) fail("member a: no assignment");
                a.poll(POLL);
            }
            g.put("a_alone", sortedTps(a.assignment()));
            b.subscribe(List.of("jg"), lb);
            deadline = System.nanoTime() + 60_000_000_000L;
            // Both polled in turn until the group has settled and each has read
            // its partitions to their ends.
            while (true) {
                a.poll(POLL);
                b.poll(POLL);
                boolean done = a.assignment().size() + b.assignment().size() == 5
                        && !b.assignment().isEmpty();
                if (done)
                    for (var c : List.of(a, b))
                        for (TopicPartition t : c.assignment())
                            if (c.position(t) < 2) done = false;
                if (done) break;
                if (System.nanoTime() > deadline)
                    fail("the group did not settle: a " + la.events + " b " + lb.events);
            }
            a.commitSync();
            b.commitSync(Map.of(new TopicPartition("jg", 3),
                    new OffsetAndMetadata(1, "b's metadata")));
            g.put("a_events", la.events);
            g.put("b_events", lb.events);
            g.put("a_committed", offsets(a.committed(new HashSet<>(jg))));
            g.put("b_committed", offsets(b.committed(new HashSet<>(jg))));
            g.put("a_group_metadata_generation", a.groupMetadata().generationId() > 0);

            // A simple group (no members, offsets committed by assign()ed
            // consumers and the admin).
            try (KafkaConsumer<byte[], byte[]> s = consumer("group.id", "jsimple")) {
                s.assign(parts("jp", 2));
                s.commitSync(Map.of(new TopicPartition("jp", 0), new OffsetAndMetadata(1, "m0"),
                        new TopicPartition("jp", 1), new OffsetAndMetadata(2)));
                g.put("simple_committed", offsets(s.committed(new HashSet<>(parts("jp", 3)))));
            }

            g.put("list_groups", listGroups(admin, new ListGroupsOptions()));
            g.put("list_consumer_groups", listGroups(admin, ListGroupsOptions.forConsumerGroups()));
            g.put("list_consumer_groups_deprecated", listConsumerGroups(admin));
            g.put("list_stable_groups", listGroups(admin, new ListGroupsOptions()
                    .inGroupStates(Set.of(GroupState.STABLE))));
            g.put("describe", describeGroups(admin, "jgroup", "jsimple", "jmissing"));
            g.put("offsets_jgroup", offsets(admin.listConsumerGroupOffsets("jgroup")
                    .partitionsToOffsetAndMetadata().get()));
            g.put("offsets_jgroup_some", offsets(admin.listConsumerGroupOffsets(Map.of("jgroup",
                    new ListConsumerGroupOffsetsSpec().topicPartitions(List.of(
                            new TopicPartition("jg", 0), new TopicPartition("jg", 4),
                            new TopicPartition("jp", 0)))))
                    .partitionsToOffsetAndMetadata("jgroup").get()));
            g.put("offsets_missing_group", offsets(admin.listConsumerGroupOffsets("jmissing")
                    .partitionsToOffsetAndMetadata().get()));
            // The error paths of a group with live members.
            g.put("alter_live_group", error(() -> admin.alterConsumerGroupOffsets("jgroup",
                    Map.of(new TopicPartition("jg", 0), new OffsetAndMetadata(0))).all().get()));
            g.put("delete_offsets_subscribed", error(() -> admin.deleteConsumerGroupOffsets(
                    "jgroup", Set.of(new TopicPartition("jg", 0))).all().get()));
            g.put("delete_live_group", error(() -> admin.deleteConsumerGroups(
                    List.of("jgroup")).all().get()));
            g.put("describe_after_errors", describeGroups(admin, "jgroup"));
        } finally {
            a.close();
            b.close();
        }
        out.put("group", g);
    }

    // ---- admin: offsets and records ----------------------------------------

    static void adminOffsets(Admin admin) throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("alter", error(() -> admin.alterConsumerGroupOffsets("jsimple", Map.of(
                new TopicPartition("jp", 0), new OffsetAndMetadata(3, "altered"),
                new TopicPartition("jp", 2), new OffsetAndMetadata(4))).all().get()));
        o.put("alter_new_group", error(() -> admin.alterConsumerGroupOffsets("jnew", Map.of(
                new TopicPartition("jp", 0), new OffsetAndMetadata(5))).all().get()));
        o.put("alter_missing_partition", error(() -> admin.alterConsumerGroupOffsets("jsimple",
                Map.of(new TopicPartition("jp", 9), new OffsetAndMetadata(1))).all().get()));
        o.put("after_alter", offsets(admin.listConsumerGroupOffsets("jsimple")
                .partitionsToOffsetAndMetadata().get()));
        o.put("delete_offsets", error(() -> admin.deleteConsumerGroupOffsets("jsimple",
                Set.of(new TopicPartition("jp", 1))).all().get()));
        o.put("delete_offsets_missing_group", error(() -> admin.deleteConsumerGroupOffsets(
                "jmissing", Set.of(new TopicPartition("jp", 1))).all().get()));
        o.put("after_delete_offsets", offsets(admin.listConsumerGroupOffsets("jsimple")
                .partitionsToOffsetAndMetadata().get()));
        o.put("delete_groups", error(() -> admin.deleteConsumerGroups(
                List.of("jsimple", "jnew")).all().get()));
        o.put("delete_missing_group", error(() -> admin.deleteConsumerGroups(
                List.of("jmissing")).all().get()));
        o.put("groups_after_delete", listGroups(admin, new ListGroupsOptions()));

        List<TopicPartition> jp = parts("jp", 3);
        Map<String, Object> lo = new LinkedHashMap<>();
        Map<String, OffsetSpec> specs = new LinkedHashMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("latest", OffsetSpec.latest());
        specs.put("max_timestamp", OffsetSpec.maxTimestamp());
        specs.put("earliest_local", OffsetSpec.earliestLocal());
        specs.put("latest_tiered", OffsetSpec.latestTiered());
        specs.put("for_timestamp_before", OffsetSpec.forTimestamp(T0 - 1));
        specs.put("for_timestamp_middle", OffsetSpec.forTimestamp(T0 + 45_500));
        specs.put("for_timestamp_past", OffsetSpec.forTimestamp(T0 + 20_000_000));
        for (var e : specs.entrySet()) {
            Map<TopicPartition, OffsetSpec> q = new HashMap<>();
            for (TopicPartition t : jp) q.put(t, e.getValue());
            lo.put(e.getKey(), offsets(admin.listOffsets(q).all().get()));
        }
        o.put("list_offsets", lo);
        o.put("list_offsets_missing_topic", error(() -> admin.listOffsets(Map.of(
                new TopicPartition("jt-missing", 0), OffsetSpec.latest()),
                new ListOffsetsOptions().timeoutMs(5000)).all().get()));

        DeleteRecordsResult dr = admin.deleteRecords(Map.of(
                new TopicPartition("jp", 0), RecordsToDelete.beforeOffset(3),
                new TopicPartition("jp", 2), RecordsToDelete.beforeOffset(-1)));
        o.put("delete_records_low_watermarks", map(
                "jp-0", dr.lowWatermarks().get(new TopicPartition("jp", 0)).get().lowWatermark(),
                "jp-2", dr.lowWatermarks().get(new TopicPartition("jp", 2)).get().lowWatermark()));
        o.put("delete_records_past_end", error(() -> admin.deleteRecords(Map.of(
                new TopicPartition("jp", 1), RecordsToDelete.beforeOffset(1000)))
                .all().get()));
        o.put("delete_records_backwards", error(() -> admin.deleteRecords(Map.of(
                new TopicPartition("jp", 0), RecordsToDelete.beforeOffset(1)))
                .all().get()));
        Map<TopicPartition, OffsetSpec> q = new HashMap<>();
        for (TopicPartition t : jp) q.put(t, OffsetSpec.earliest());
        o.put("earliest_after_delete_records", offsets(admin.listOffsets(q).all().get()));
        for (TopicPartition t : jp) q.put(t, OffsetSpec.forTimestamp(T0 - 1));
        o.put("for_timestamp_after_delete_records", offsets(admin.listOffsets(q).all().get()));
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            o.put("beginning_offsets_after_delete_records", offsets(c.beginningOffsets(jp)));
            // Reading from below the log start: auto.offset.reset=earliest.
            TopicPartition p0 = new TopicPartition("jp", 0);
            c.assign(List.of(p0));
            c.seek(p0, 0);
            o.put("read_below_log_start", firstRecord(c));
        }
        out.put("admin_offsets", o);
    }

    static void deleteTopics(Admin admin) throws Exception {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("delete", error(() -> admin.deleteTopics(List.of("jt-default", "jlat"))
                .all().get()));
        d.put("delete_missing", error(() -> admin.deleteTopics(List.of("jt-missing"))
                .all().get()));
        d.put("list_after_delete", settle(() -> new TreeSet<>(admin.listTopics().names().get()),
                l -> !l.contains("jt-default") && !l.contains("jlat")));
        d.put("describe_deleted", settle(() -> error(() -> describeTopic(admin, "jt-default")),
                e -> e != null));
        out.put("delete_topics", d);
    }
}
