// TxnBench.java — the client of bench/broker/txn-vs-kafka.py: Kafka's own
// Java producer and consumer (kafka-clients 4.4, from the Kafka jars the
// tests resolve), driving transactions against one broker.
//
//   java -cp CP TxnBench produce BOOTSTRAP TOPIC BATCHES RECORDS BYTES
//        LIMIT PRODUCERS TXID_PREFIX ABORT_EVERY [NAME=VALUE ...]
//   java -cp CP TxnBench consume BOOTSTRAP TOPIC PARTITIONS EXPECTED
//        ISOLATION [NAME=VALUE ...]
//
// produce: PRODUCERS threads, each a transactional producer
// (transactional.id TXID_PREFIX-i), run transactions one after the other:
// beginTransaction; RECORDS records of BYTES random bytes (no key) to each
// of BATCHES partitions (i, i+1, ... modulo the topic's partitions, i the
// thread's number); flush(); commitTransaction()
// — or abortTransaction() for every ABORT_EVERY-th (0: never).
// batch.size is 1 MiB and linger.ms the client's default (5 ms): the
// records of a partition, sent within microseconds, make one batch, which
// the batch_bytes_avg line (the producer's batch-size-avg) shows. LIMIT is
// "Ns" (each thread first runs 3 transactions that are not counted, then
// all run N seconds) or a number of transactions per thread (all counted:
// a fill). Prints, one per line:
//   txns N / aborted N / records N / bytes N / seconds S
//   commit_p50_ms X / commit_p99_ms X   (commitTransaction() alone)
//   txn_p50_ms X / txn_p99_ms X         (beginTransaction to commit return)
//   version V  (the producer's transaction protocol: 1 or 2, KIP-890)
//   batch_bytes_avg X
// consume: a consumer (no group) assigned partitions 0..PARTITIONS-1, from
// the beginning, isolation.level ISOLATION, until it has EXPECTED records;
// prints records, bytes, seconds (from its start to the last record).
// The NAME=VALUE pairs are added to the client's config. Exits 1 with
// "error ..." on any failure.

import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;

public class TxnBench {
  static final int WARMUP = 3;

  static void extra(Properties p, String[] args, int from) {
    for (int i = from; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      p.put(kv[0], kv[1]);
    }
  }

  static double pct(List<Long> ns, double q) {
    if (ns.isEmpty()) return Double.NaN;
    List<Long> s = new ArrayList<>(ns);
    Collections.sort(s);
    return s.get(Math.min(s.size() - 1, (int) (q * s.size()))) / 1e6;
  }

  // Whether the producer runs Transactions V2: TransactionManager keeps it
  // in a private field (4.x); "?" when this client has none.
  static String version(KafkaProducer<byte[], byte[]> p) {
    try {
      Field f = KafkaProducer.class.getDeclaredField("transactionManager");
      f.setAccessible(true);
      Object tm = f.get(p);
      Object v = tm.getClass().getMethod("isTransactionV2Enabled").invoke(tm);
      return Boolean.TRUE.equals(v) ? "2" : "1";
    } catch (ReflectiveOperationException | RuntimeException e) {
      return "?";
    }
  }

  public static void main(String[] args) throws Exception {
    try {
      if (args[0].equals("produce")) produce(args);
      else consume(args);
    } catch (Throwable t) {
      System.out.println("error " + t);
      t.printStackTrace(System.out);
      System.out.flush();
      System.exit(1);
    }
    System.exit(0);
  }

  static void produce(String[] args) throws Throwable {
    String bootstrap = args[1], topic = args[2];
    int batches = Integer.parseInt(args[3]), records = Integer.parseInt(args[4]);
    int bytes = Integer.parseInt(args[5]);
    String limit = args[6];
    int producers = Integer.parseInt(args[7]);
    String prefix = args[8];
    int abortEvery = Integer.parseInt(args[9]);
    boolean timed = limit.endsWith("s");
    long seconds = timed ? Long.parseLong(limit.substring(0, limit.length() - 1)) : 0;
    long count = timed ? 0 : Long.parseLong(limit);

    List<Long> commitNs = Collections.synchronizedList(new ArrayList<>());
    List<Long> txnNs = Collections.synchronizedList(new ArrayList<>());
    AtomicLong txns = new AtomicLong(), aborted = new AtomicLong();
    AtomicLong nrecords = new AtomicLong(), nbytes = new AtomicLong();
    String[] ver = {"?"};
    double[] batchAvg = {0};
    Throwable[] failed = {null};
    // Timed: every thread runs WARMUP transactions (metadata fetched, the
    // JIT warm), then all start the measured window at the same instant.
    long t0 = System.nanoTime();
    long[] window = {t0, t0 + seconds * 1_000_000_000L};
    CyclicBarrier warm =
        new CyclicBarrier(
            producers,
            () -> {
              window[0] = System.nanoTime();
              window[1] = window[0] + seconds * 1_000_000_000L;
            });

    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < producers; t++) {
      final int id = t;
      Thread th =
          new Thread(
              () -> {
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("transactional.id", prefix + "-" + id);
                p.put("batch.size", "1048576");
                p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
                p.put(
                    "value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
                extra(p, args, 10);
                byte[] value = new byte[bytes];
                new Random(id).nextBytes(value);
                try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
                  prod.initTransactions();
                  int nparts = prod.partitionsFor(topic).size();
                  for (long n = timed ? -WARMUP : 0; ; n++) {
                    if (timed && n == 0) warm.await();
                    long start = System.nanoTime();
                    if (timed ? n >= 0 && start >= window[1] : n >= count) break;
                    boolean abort = abortEvery > 0 && n >= 0 && n % abortEvery == abortEvery - 1;
                    prod.beginTransaction();
                    for (int b = 0; b < batches; b++)
                      for (int r = 0; r < records; r++)
                        prod.send(new ProducerRecord<>(topic, (id + b) % nparts, null, value));
                    prod.flush();
                    long c0 = System.nanoTime();
                    if (abort) prod.abortTransaction();
                    else prod.commitTransaction();
                    long end = System.nanoTime();
                    if (n < 0) continue; // the warm-up
                    if (abort) {
                      aborted.incrementAndGet();
                      continue;
                    }
                    txns.incrementAndGet();
                    nrecords.addAndGet((long) batches * records);
                    nbytes.addAndGet((long) batches * records * bytes);
                    commitNs.add(end - c0);
                    txnNs.add(end - start);
                  }
                  synchronized (ver) { // known once a transaction has run
                    ver[0] = version(prod);
                    for (Map.Entry<MetricName, ? extends Metric> m : prod.metrics().entrySet())
                      if (m.getKey().group().equals("producer-metrics")
                          && m.getKey().name().equals("batch-size-avg"))
                        batchAvg[0] = Math.max(batchAvg[0], (Double) m.getValue().metricValue());
                  }
                } catch (Throwable e) {
                  synchronized (failed) {
                    if (failed[0] == null) failed[0] = e;
                  }
                }
              });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) th.join();
    if (failed[0] != null) throw failed[0];
    double secs = (timed ? window[1] - window[0] : System.nanoTime() - t0) / 1e9;
    System.out.println("txns " + txns.get());
    System.out.println("aborted " + aborted.get());
    System.out.println("records " + nrecords.get());
    System.out.println("bytes " + nbytes.get());
    System.out.println("seconds " + secs);
    System.out.println("commit_p50_ms " + pct(commitNs, 0.50));
    System.out.println("commit_p99_ms " + pct(commitNs, 0.99));
    System.out.println("txn_p50_ms " + pct(txnNs, 0.50));
    System.out.println("txn_p99_ms " + pct(txnNs, 0.99));
    System.out.println("version " + ver[0]);
    System.out.println("batch_bytes_avg " + batchAvg[0]);
  }

  static void consume(String[] args) {
    String bootstrap = args[1], topic = args[2];
    int partitions = Integer.parseInt(args[3]);
    long expected = Long.parseLong(args[4]);
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("isolation.level", args[5]);
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    extra(p, args, 6);
    List<TopicPartition> tps = new ArrayList<>();
    for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
    long n = 0, bytes = 0;
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      c.assign(tps);
      c.seekToBeginning(tps);
      long t0 = System.nanoTime(), last = t0, idleSince = t0;
      while (n < expected) {
        ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
        long now = System.nanoTime();
        if (rs.isEmpty()) {
          if (now - idleSince > 30_000_000_000L)
            throw new IllegalStateException(
                "no record for 30 s after " + n + " of " + expected);
          continue;
        }
        idleSince = now;
        for (ConsumerRecord<byte[], byte[]> r : rs) {
          n++;
          bytes += r.value() == null ? 0 : r.value().length;
        }
        last = now;
      }
      System.out.println("records " + n);
      System.out.println("bytes " + bytes);
      System.out.println("seconds " + (last - t0) / 1e9);
    }
  }
}
