// ChurnMember.java — churn.py's member with the Java client (kafka-clients
// 4.4): the same flags and the same log lines as `churn.py member` (see
// churn.py's top), times from System.nanoTime(), which is CLOCK_MONOTONIC
// on Linux like Python's time.monotonic(). SIGTERM is a clean leave (the
// shutdown hook wakes the poll and waits for the close).
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;

public class ChurnMember {
  static FileOutputStream out;
  static KafkaConsumer<byte[], byte[]> c;
  static String topic;
  static final Set<Integer> owned = new HashSet<>();
  static final Map<Integer, Long> nxt = new HashMap<>();
  static final Map<Integer, Long> done = new HashMap<>();
  static volatile boolean stop;

  static String now() {
    return String.format("%.6f", System.nanoTime() / 1e9);
  }

  static synchronized void w(String line) {
    try {
      out.write((now() + " " + line + "\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  static String list(Collection<TopicPartition> parts) {
    TreeSet<Integer> ps = new TreeSet<>();
    for (TopicPartition tp : parts) ps.add(tp.partition());
    StringBuilder b = new StringBuilder();
    for (int p : ps) b.append(b.length() > 0 ? "," : "").append(p);
    return b.toString();
  }

  static void commit(Collection<Integer> parts) {
    TreeMap<Integer, Long> todo = new TreeMap<>();
    for (int p : parts) {
      Long n = nxt.get(p);
      if (n != null && n > done.getOrDefault(p, -1L)) todo.put(p, n);
    }
    if (todo.isEmpty()) return;
    Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
    for (Map.Entry<Integer, Long> e : todo.entrySet())
      offs.put(new TopicPartition(topic, e.getKey()), new OffsetAndMetadata(e.getValue()));
    try {
      c.commitSync(offs);
    } catch (WakeupException e) {
      stop = true;
      commit(parts); // the wakeup of a SIGTERM: commit once more
      return;
    } catch (RuntimeException e) {
      w("E commit " + e.toString().replace('\n', ' '));
      return;
    }
    StringBuilder b = new StringBuilder("C");
    for (Map.Entry<Integer, Long> e : todo.entrySet()) {
      done.put(e.getKey(), e.getValue());
      b.append(' ').append(e.getKey()).append(':').append(e.getValue());
    }
    w(b.toString());
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) a.put(argv[i], argv[i + 1]);
    topic = a.get("--topic");
    String protocol = a.get("--protocol");
    long commitMs = Long.parseLong(a.getOrDefault("--commit-ms", "250"));
    Properties p = new Properties();
    p.put("bootstrap.servers", a.get("--bootstrap"));
    p.put("group.id", a.get("--group"));
    p.put("client.id", a.get("--name"));
    p.put("enable.auto.commit", "false");
    p.put("auto.offset.reset", a.getOrDefault("--offset-reset", "earliest"));
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    if (protocol.equals("consumer")) {
      p.put("group.protocol", "consumer");
      if (!a.getOrDefault("--assignor", "").isEmpty())
        p.put("group.remote.assignor", a.get("--assignor"));
    } else {
      p.put("group.protocol", "classic");
      if (protocol.equals("cooperative"))
        p.put("partition.assignment.strategy",
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
      // classic: the default list, [RangeAssignor, CooperativeStickyAssignor]:
      // eager range.
      if (!a.getOrDefault("--session-ms", "0").equals("0"))
        p.put("session.timeout.ms", a.get("--session-ms"));
      if (!a.getOrDefault("--heartbeat-ms", "0").equals("0"))
        p.put("heartbeat.interval.ms", a.get("--heartbeat-ms"));
    }
    out = new FileOutputStream(a.get("--log"), true);
    c = new KafkaConsumer<>(p);
    final Thread main = Thread.currentThread();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stop = true;
                  c.wakeup();
                  try {
                    main.join(60000);
                  } catch (InterruptedException e) {
                    // exiting anyway
                  }
                }));
    w("S");
    c.subscribe(
        List.of(topic),
        new ConsumerRebalanceListener() {
          public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            w("A " + list(parts));
            for (TopicPartition tp : parts) owned.add(tp.partition());
          }

          public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            List<Integer> ps = new ArrayList<>();
            for (TopicPartition tp : parts) ps.add(tp.partition());
            commit(ps);
            for (int q : ps) {
              owned.remove(q);
              nxt.remove(q);
              done.remove(q);
            }
            w("R " + list(parts));
          }

          public void onPartitionsLost(Collection<TopicPartition> parts) {
            w("L " + list(parts));
            for (TopicPartition tp : parts) {
              owned.remove(tp.partition());
              nxt.remove(tp.partition());
              done.remove(tp.partition());
            }
          }
        });
    long lastCommit = System.nanoTime();
    while (!stop) {
      try {
        var recs = c.poll(Duration.ofMillis(50));
        StringBuilder b = new StringBuilder();
        String t = now();
        for (TopicPartition tp : recs.partitions()) {
          long o0 = -1, o1 = -1, s0 = -1;
          for (ConsumerRecord<byte[], byte[]> r : recs.records(tp)) {
            String[] v = new String(r.value(), StandardCharsets.UTF_8).split(":");
            long seq = Long.parseLong(v[1]);
            if (Integer.parseInt(v[0]) != tp.partition()) {
              w("E value " + v[0] + ":" + v[1] + " in partition " + tp.partition());
              continue;
            }
            if (o0 >= 0 && r.offset() == o1 + 1 && seq == s0 + (r.offset() - o0)) {
              o1 = r.offset();
            } else {
              if (o0 >= 0)
                b.append(t + " M " + tp.partition() + " " + o0 + " " + o1 + " " + s0 + "\n");
              o0 = o1 = r.offset();
              s0 = seq;
            }
            nxt.put(tp.partition(), r.offset() + 1);
          }
          if (o0 >= 0)
            b.append(t + " M " + tp.partition() + " " + o0 + " " + o1 + " " + s0 + "\n");
        }
        if (b.length() > 0) {
          synchronized (ChurnMember.class) {
            out.write(b.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
          }
        }
        if (System.nanoTime() - lastCommit >= commitMs * 1_000_000L) {
          commit(new ArrayList<>(owned));
          lastCommit = System.nanoTime();
        }
      } catch (WakeupException e) {
        break;
      }
    }
    // What was consumed is committed before leaving; close() then revokes.
    commit(new ArrayList<>(owned));
    c.close();
    w("X");
    out.close();
  }
}
