// StreamsCount.java — a Kafka Streams application for
// tests/compat/test_kafka_streams.py: counts the records of each key of an
// input topic in a persistent key-value store (RocksDB) named "counts",
// whose changelog topic (<application.id>-counts-changelog, compacted)
// Streams creates, and writes every new count to an output topic.
// Run as a single-file source program:
//   java -cp <kafka-streams classpath> StreamsCount.java BOOTSTRAP APP_ID
//        STATE_DIR INPUT OUTPUT [NAME=VALUE ...]
// The NAME=VALUE pairs are added to the Streams config. It prints, one
// line each (flushed): "state <NEW>" on every state change, "restored
// <store> <topic>-<partition> <records>" when a store partition is restored
// from its changelog, and "error <exception>" on an uncaught exception
// (then it shuts down and exits 1). It runs until killed; SIGTERM closes it.

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;

public class StreamsCount {
  static synchronized void say(String line) {
    System.out.println(line);
    System.out.flush();
  }

  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    p.put(StreamsConfig.STATE_DIR_CONFIG, args[2]);
    for (int i = 5; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      p.put(kv[0], kv[1]);
    }

    StreamsBuilder b = new StreamsBuilder();
    b.stream(args[3], Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey()
        .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts"))
        .toStream()
        .to(args[4], Produced.with(Serdes.String(), Serdes.Long()));

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    CountDownLatch done = new CountDownLatch(1);
    int[] exit = {0};
    streams.setStateListener(
        (now, before) -> {
          say("state " + now);
          if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
            done.countDown();
          }
        });
    streams.setGlobalStateRestoreListener(
        new StateRestoreListener() {
          @Override
          public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
            say("restoring " + store + " " + tp + " " + start + " " + end);
          }

          @Override
          public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}

          @Override
          public void onRestoreEnd(TopicPartition tp, String store, long total) {
            say("restored " + store + " " + tp + " " + total);
          }
        });
    streams.setUncaughtExceptionHandler(
        e -> {
          say("error " + e);
          exit[0] = 1;
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    Runtime.getRuntime()
        .addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(30))));
    streams.start();
    done.await();
    System.exit(exit[0]);
  }
}
