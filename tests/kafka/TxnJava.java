// TxnJava.java — the Java client's transactions against one broker, printing
// everything the client observed as one JSON document on stdout.
// tests/compat/test_diff_txn_java.py runs it with kafka-clients 4.4
// (Transactions V2 against a broker that finalizes transaction.version 2)
// and with kafka-clients 3.9 (V1 only), against Apache Kafka and against
// nodata, and compares the documents field by field.
//
//   java -cp CLASSPATH TxnJava.java PREFIX BOOTSTRAP
//
// (single-file source launch, no build step; it compiles against both
// client releases, so it uses no API newer than 3.9 and no JSON library.)
// PREFIX names its topics and transactional ids, so that two runs share a
// broker.
//
// Only what is deterministic is printed: producer ids as whether they stayed
// the same, the offsets of a consume-transform-produce loop (which depend on
// how many records each poll returned) as checks that hold for any batching.
// Errors are printed as the exception class the client raised.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnJava {
    static final Duration POLL = Duration.ofMillis(100);
    static String bootstrap, prefix;
    static final Map<String, Object> out = new LinkedHashMap<>();
    static Admin admin;

    public static void main(String[] args) throws Exception {
        prefix = args[0];
        bootstrap = args[1];
        try (Admin a = Admin.create(props("client.id", prefix + "-admin"))) {
            admin = a;
            setup();
            commitAbort();
            consumeTransformProduce();
            fencing();
            timeout();
            listTransactions();
        }
        System.out.println(json(out, ""));
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

    static String t(String name) {
        return prefix + "-" + name;
    }

    interface Call<T> {
        T get() throws Exception;
    }

    // The exception class a call raised (the cause of an ExecutionException,
    // as futures wrap them), or null when it succeeded.
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

    static void fail(String msg) {
        System.err.println("TxnJava: " + msg);
        System.exit(1);
    }

    static KafkaProducer<String, String> txProducer(String id) {
        return new KafkaProducer<>(props("transactional.id", id,
                "client.id", id, "linger.ms", "5"),
                new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(String isolation, String... kv) {
        Properties p = props("isolation.level", isolation,
                "enable.auto.commit", "false", "auto.offset.reset", "earliest");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static List<TopicPartition> parts(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    static String tp(TopicPartition x) {
        return x.topic().substring(prefix.length() + 1) + "-" + x.partition();
    }

    static Map<String, Object> offsetsOf(Map<TopicPartition, ?> m) {
        Map<String, Object> r = new TreeMap<>();
        for (Map.Entry<TopicPartition, ?> e : m.entrySet()) {
            Object v = e.getValue();
            if (v instanceof OffsetAndMetadata) v = ((OffsetAndMetadata) v).offset();
            r.put(tp(e.getKey()), v);
        }
        return r;
    }

    // Where every partition ends for a consumer of that isolation level
    // (ListOffsets latest: the last stable offset for read_committed).
    static Map<String, Object> ends(String isolation, List<TopicPartition> tps) {
        try (KafkaConsumer<String, String> c = consumer(isolation)) {
            return offsetsOf(c.endOffsets(tps, Duration.ofSeconds(30)));
        }
    }

    // Every record a consumer of that isolation level reads from the start
    // of the partitions to their end, as "partition@offset key=value".
    static List<String> readAll(String isolation, List<TopicPartition> tps) {
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(isolation)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (true) {
                boolean done = true;
                for (TopicPartition x : tps)
                    if (c.position(x) < end.get(x)) done = false;
                if (done) break;
                if (System.nanoTime() > deadline)
                    fail("reading " + tps + " (" + isolation + ") did not reach " + end);
                for (ConsumerRecord<String, String> r : c.poll(POLL))
                    got.add(tp(new TopicPartition(r.topic(), r.partition())) + "@"
                            + r.offset() + " " + r.key() + "=" + r.value());
            }
        }
        Collections.sort(got);
        return got;
    }

    static final Map<String, Long> firstPid = new HashMap<>();

    // DescribeTransactions, the producer id as whether it is the first one
    // seen for that transactional id (a new one would mean the coordinator
    // gave up the old id). Kafka answers EndTxn once the transaction is
    // prepared and writes the markers after: a state Prepare* is asked
    // again until it is complete (at most 30 s), so that what is printed
    // after a commit or an abort is where the transaction ends.
    static Object describe(String id) {
        try {
            TransactionDescription d;
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (true) {
                d = admin.describeTransactions(List.of(id)).description(id).get();
                if (!d.state().toString().startsWith("Prepare")
                        || System.nanoTime() > deadline)
                    break;
                Thread.sleep(50);
            }
            firstPid.putIfAbsent(id, d.producerId());
            List<String> tps = new ArrayList<>();
            for (TopicPartition x : d.topicPartitions()) tps.add(tp(x));
            Collections.sort(tps);
            return map("state", d.state().toString(),
                    "producer_id", d.producerId() == firstPid.get(id) ? "the first"
                            : "another",
                    "producer_epoch", d.producerEpoch(),
                    "timeout_ms", d.transactionTimeoutMs(),
                    "started", d.transactionStartTimeMs().isPresent(),
                    "partitions", tps);
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    // DescribeProducers of one partition: the producers with their epoch,
    // last sequence, the coordinator epoch of their last transaction marker
    // (null before any) and the start offset of an open transaction.
    static Object producers(TopicPartition x) throws Exception {
        List<Object> l = new ArrayList<>();
        for (ProducerState s : admin.describeProducers(List.of(x)).partitionResult(x)
                .get().activeProducers())
            l.add(map("producer_epoch", s.producerEpoch(),
                    "last_sequence", s.lastSequence(),
                    "coordinator_epoch", s.coordinatorEpoch().isPresent()
                            ? s.coordinatorEpoch().getAsInt() : null,
                    "txn_start_offset", s.currentTransactionStartOffset().isPresent()
                            ? s.currentTransactionStartOffset().getAsLong() : null));
        l.sort(Comparator.comparing(Object::toString));
        return l;
    }

    static List<Object> sendAll(KafkaProducer<String, String> p, List<TopicPartition> tps,
            String tag, int n) throws Exception {
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        for (TopicPartition x : tps)
            for (int i = 0; i < n; i++)
                fs.add(p.send(new ProducerRecord<>(x.topic(), x.partition(),
                        "k" + i, tag + "-" + tp(x) + "-" + i)));
        List<Object> l = new ArrayList<>();
        for (Future<RecordMetadata> f : fs) {
            RecordMetadata m = f.get();
            l.add(tp(new TopicPartition(m.topic(), m.partition())) + "@" + m.offset());
        }
        return l;
    }

    // ---- the scenario ----------------------------------------------------

    static void setup() throws Exception {
        admin.createTopics(List.of(new NewTopic(t("ta"), 3, (short) 1),
                new NewTopic(t("tb"), 2, (short) 1),
                new NewTopic(t("in"), 2, (short) 1),
                new NewTopic(t("out"), 2, (short) 1),
                new NewTopic(t("f"), 1, (short) 1),
                new NewTopic(t("to"), 1, (short) 1))).all().get();
        // The transaction.version the broker finalizes decides which
        // protocol a 4.x client speaks (a 3.9 client speaks V1 anyway).
        FeatureMetadata f = admin.describeFeatures().featureMetadata().get();
        FinalizedVersionRange tv = f.finalizedFeatures().get("transaction.version");
        SupportedVersionRange sv = f.supportedFeatures().get("transaction.version");
        out.put("transaction_version", map(
                "finalized", tv == null ? null : tv.maxVersionLevel(),
                "supported", sv == null ? null
                        : sv.minVersion() + "-" + sv.maxVersion()));
        out.put("describe_unknown", describe(t("nobody")));
    }

    // Transactions over several partitions of two topics, committed and
    // aborted; what read_committed and read_uncommitted consumers see, the
    // last stable offset of a partition with an open transaction, and the
    // coordinator's and the partitions' view of the producer.
    static void commitAbort() throws Exception {
        List<TopicPartition> all = new ArrayList<>(parts(t("ta"), 3));
        all.addAll(parts(t("tb"), 2));
        Map<String, Object> o = new LinkedHashMap<>();
        out.put("commit_abort", o);
        try (KafkaProducer<String, String> p = txProducer(t("tx-a"));
             KafkaProducer<String, String> plain = new KafkaProducer<>(
                     props("enable.idempotence", "true", "acks", "all"),
                     new StringSerializer(), new StringSerializer())) {
            p.initTransactions();
            o.put("after_init", describe(t("tx-a")));

            p.beginTransaction();
            o.put("txn1_sent", sendAll(p, all, "c1", 2));
            o.put("txn1_open", describe(t("tx-a")));
            o.put("txn1_open_producers_ta0", producers(all.get(0)));
            // A record of another producer after the open transaction's
            // records: read_committed stops before the transaction.
            o.put("plain_sent", plain.send(new ProducerRecord<>(t("ta"), 0, "p",
                    "plain-1")).get().offset());
            o.put("txn1_open_ends_committed", ends("read_committed", all));
            o.put("txn1_open_ends_uncommitted", ends("read_uncommitted", all));
            o.put("txn1_open_read_committed", readAll("read_committed", all));
            p.commitTransaction();
            o.put("txn1_committed", describe(t("tx-a")));
            o.put("txn1_committed_producers_ta0", producers(all.get(0)));
            o.put("txn1_committed_ends_committed", ends("read_committed", all));
            o.put("txn1_committed_ends_uncommitted", ends("read_uncommitted", all));

            p.beginTransaction();
            o.put("txn2_sent", sendAll(p, List.of(all.get(0), all.get(1), all.get(3)),
                    "a2", 3));
            p.abortTransaction();
            o.put("txn2_aborted", describe(t("tx-a")));

            p.beginTransaction();
            o.put("txn3_sent", sendAll(p, List.of(all.get(2), all.get(4)), "c3", 2));
            p.commitTransaction();
            o.put("txn3_committed", describe(t("tx-a")));

            // An aborted transaction whose records come after a committed
            // one in the same partition, then a commit again.
            p.beginTransaction();
            o.put("txn4_sent", sendAll(p, List.of(all.get(0)), "a4", 2));
            p.abortTransaction();
            p.beginTransaction();
            o.put("txn5_sent", sendAll(p, List.of(all.get(0)), "c5", 1));
            p.commitTransaction();
            o.put("txn5_committed", describe(t("tx-a")));
        }
        o.put("read_committed", readAll("read_committed", all));
        o.put("read_uncommitted", readAll("read_uncommitted", all));
        o.put("ends_committed", ends("read_committed", all));
        o.put("ends_uncommitted", ends("read_uncommitted", all));
    }

    // A consume-transform-produce loop: records of `in` are copied to `out`
    // in transactions that also commit the group's offsets
    // (sendOffsetsToTransaction). The second transaction is aborted: the
    // group's committed offsets stay, its copies are never read
    // read_committed, and the loop rewinds to the committed offsets.
    static void consumeTransformProduce() throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        out.put("consume_transform_produce", o);
        String group = t("g");
        List<TopicPartition> in = parts(t("in"), 2), outTps = parts(t("out"), 2);
        Set<String> inputs = new TreeSet<>();
        try (KafkaProducer<String, String> plain = new KafkaProducer<>(
                props("enable.idempotence", "true", "acks", "all"),
                new StringSerializer(), new StringSerializer())) {
            for (int q = 0; q < 2; q++)
                for (int i = 0; i < 15; i++) {
                    String v = "in-" + q + "-" + i;
                    inputs.add(q + ":" + v);
                    plain.send(new ProducerRecord<>(t("in"), q, "k" + i, v)).get();
                }
        }
        Set<String> aborted = new TreeSet<>();
        List<String> events = new ArrayList<>();
        try (KafkaProducer<String, String> p = txProducer(t("tx-ctp"));
             KafkaConsumer<String, String> c = consumer("read_committed",
                     "group.id", group, "max.poll.records", "7",
                     "client.id", t("ctp-consumer"))) {
            p.initTransactions();
            c.subscribe(List.of(t("in")));
            int txn = 0;
            long deadline = System.nanoTime() + 120_000_000_000L;
            Map<TopicPartition, OffsetAndMetadata> committedBefore = null;
            Map<TopicPartition, OffsetAndMetadata> committedByUs = new HashMap<>();
            while (true) {
                if (System.nanoTime() > deadline) fail("the loop did not copy `in`");
                ConsumerRecords<String, String> rs = c.poll(POLL);
                if (rs.isEmpty()) {
                    Map<TopicPartition, OffsetAndMetadata> cm =
                            admin.listConsumerGroupOffsets(group)
                                    .partitionsToOffsetAndMetadata().get();
                    if (cm.size() == 2 && cm.get(in.get(0)).offset() == 15
                            && cm.get(in.get(1)).offset() == 15)
                        break;
                    continue;
                }
                txn++;
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                for (ConsumerRecord<String, String> r : rs) {
                    p.send(new ProducerRecord<>(t("out"), r.partition(), r.key(),
                            "T:" + r.value()));
                    next.put(new TopicPartition(r.topic(), r.partition()),
                            new OffsetAndMetadata(r.offset() + 1));
                    if (txn == 2) aborted.add(r.partition() + ":T:" + r.value());
                }
                p.sendOffsetsToTransaction(next, c.groupMetadata());
                if (txn != 2) {
                    p.commitTransaction();
                    committedByUs.putAll(next);
                    continue;
                }
                p.flush();
                // Open, with offsets pending: an admin reading the group's
                // offsets (not requiring stable ones) sees the last
                // committed; a consumer (which requires stable offsets)
                // is answered UNSTABLE_OFFSET_COMMIT until the end of the
                // transaction, so its committed() times out.
                committedBefore = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get();
                o.put("pending_admin_sees_last_committed",
                        committedBefore.equals(committedByUs));
                try (KafkaConsumer<String, String> other = consumer("read_committed",
                        "group.id", group)) {
                    o.put("pending_consumer_committed", error(() ->
                            other.committed(new HashSet<>(in), Duration.ofSeconds(3))));
                }
                p.abortTransaction();
                Map<TopicPartition, OffsetAndMetadata> after = admin
                        .listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                o.put("abort_kept_committed_offsets", after.equals(committedBefore));
                // Rewind to what is committed (the documented way to go on
                // after an abort).
                Map<TopicPartition, OffsetAndMetadata> cm =
                        c.committed(c.assignment(), Duration.ofSeconds(30));
                for (TopicPartition x : c.assignment()) {
                    OffsetAndMetadata om = cm.get(x);
                    if (om == null) c.seekToBeginning(List.of(x));
                    else c.seek(x, om.offset());
                }
            }
            o.put("transactions_at_least", txn >= 4);
        }
        o.put("committed_offsets", offsetsOf(admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get()));
        // The output, read_committed: every input exactly once.
        List<String> copies = new ArrayList<>();
        for (String r : readAll("read_committed", outTps)) {
            String partition = r.substring(r.indexOf('-') + 1, r.indexOf('@'));
            copies.add(partition + ":" + r.substring(r.indexOf('=') + 1));
        }
        Collections.sort(copies);
        List<String> want = new ArrayList<>();
        for (String v : inputs) {
            String[] pv = v.split(":", 2);
            want.add(pv[0] + ":T:" + pv[1]);
        }
        Collections.sort(want);
        o.put("output_exactly_once", copies.equals(want));
        if (!copies.equals(want)) o.put("output_read_committed", copies);
        // read_uncommitted also sees the aborted transaction's copies: its
        // records twice (aborted, then committed by a later transaction).
        List<String> uncommitted = new ArrayList<>();
        for (String r : readAll("read_uncommitted", outTps)) {
            String partition = r.substring(r.indexOf('-') + 1, r.indexOf('@'));
            uncommitted.add(partition + ":" + r.substring(r.indexOf('=') + 1));
        }
        List<String> both = new ArrayList<>(want);
        both.addAll(aborted);
        Collections.sort(both);
        Collections.sort(uncommitted);
        o.put("aborted_copies_read_uncommitted", !aborted.isEmpty()
                && uncommitted.equals(both));
    }

    // A second producer with the same transactional id fences the first:
    // the first's open transaction is aborted and its next calls fail.
    static void fencing() throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        out.put("fencing", o);
        TopicPartition f0 = new TopicPartition(t("f"), 0);
        KafkaProducer<String, String> p1 = txProducer(t("tx-f"));
        p1.initTransactions();
        p1.beginTransaction();
        o.put("p1_sent", p1.send(new ProducerRecord<>(t("f"), 0, "k", "z1")).get().offset());
        o.put("p1_open", describe(t("tx-f")));
        try (KafkaProducer<String, String> p2 = txProducer(t("tx-f"))) {
            p2.initTransactions();
            o.put("p2_init", describe(t("tx-f")));
            o.put("p1_send_after_fence", error(() ->
                    p1.send(new ProducerRecord<>(t("f"), 0, "k", "z2")).get()));
            o.put("p1_commit_after_fence", error(() -> {
                p1.commitTransaction();
                return null;
            }));
            p2.beginTransaction();
            o.put("p2_sent", p2.send(new ProducerRecord<>(t("f"), 0, "k", "z3")).get()
                    .offset());
            p2.commitTransaction();
            o.put("p2_committed", describe(t("tx-f")));
        }
        p1.close(Duration.ZERO);
        o.put("read_committed", readAll("read_committed", List.of(f0)));
        o.put("read_uncommitted", readAll("read_uncommitted", List.of(f0)));
    }

    // A transaction left open past its transaction.timeout.ms is aborted by
    // the coordinator (whose check runs every second in this test: Kafka's
    // transaction.abort.timed.out.transaction.cleanup.interval.ms, nodata's
    // --transaction-abort-check-ms), with an epoch bump that fences the
    // producer; a later transaction of a new producer commits.
    static void timeout() throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        out.put("timeout", o);
        TopicPartition to0 = new TopicPartition(t("to"), 0);
        Properties pp = props("transactional.id", t("tx-t"), "transaction.timeout.ms", "2000");
        KafkaProducer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(),
                new StringSerializer());
        p.initTransactions();
        p.beginTransaction();
        o.put("sent", p.send(new ProducerRecord<>(t("to"), 0, "k", "late")).get().offset());
        o.put("open", describe(t("tx-t")));
        long deadline = System.nanoTime() + 60_000_000_000L;
        Object d;
        while (true) {
            d = describe(t("tx-t"));
            if (!(d instanceof Map) || !"Ongoing".equals(((Map<?, ?>) d).get("state"))
                    || System.nanoTime() > deadline)
                break;
            Thread.sleep(200);
        }
        o.put("expired", d);
        o.put("commit_after_expiry", error(() -> {
            p.commitTransaction();
            return null;
        }));
        p.close(Duration.ZERO);
        try (KafkaProducer<String, String> p2 = txProducer(t("tx-t"))) {
            p2.initTransactions();
            p2.beginTransaction();
            o.put("p2_sent", p2.send(new ProducerRecord<>(t("to"), 0, "k", "ok")).get()
                    .offset());
            p2.commitTransaction();
            o.put("p2_committed", describe(t("tx-t")));
        }
        o.put("read_committed", readAll("read_committed", List.of(to0)));
        o.put("read_uncommitted", readAll("read_uncommitted", List.of(to0)));
    }

    static void listTransactions() throws Exception {
        Map<String, Object> states = new TreeMap<>();
        for (TransactionListing l : admin.listTransactions().all().get())
            if (l.transactionalId().startsWith(prefix + "-"))
                states.put(l.transactionalId().substring(prefix.length() + 1),
                        l.state().toString());
        out.put("list_transactions", states);
    }

    // ---- JSON (no library: the program runs on the client's jars alone) --

    static String json(Object v, String indent) {
        if (v == null) return "null";
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        String in = indent + " ";
        if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            if (m.isEmpty()) return "{}";
            StringBuilder b = new StringBuilder("{");
            String sep = "\n";
            for (Map.Entry<?, ?> e : m.entrySet()) {
                b.append(sep).append(in).append(json(e.getKey().toString(), in))
                        .append(": ").append(json(e.getValue(), in));
                sep = ",\n";
            }
            return b.append("\n").append(indent).append("}").toString();
        }
        if (v instanceof Collection) {
            Collection<?> c = (Collection<?>) v;
            if (c.isEmpty()) return "[]";
            StringBuilder b = new StringBuilder("[");
            String sep = "\n";
            for (Object e : c) {
                b.append(sep).append(in).append(json(e, in));
                sep = ",\n";
            }
            return b.append("\n").append(indent).append("]").toString();
        }
        StringBuilder b = new StringBuilder("\"");
        for (char ch : v.toString().toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"').toString();
    }
}
