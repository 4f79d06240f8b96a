// EosProducer.java — the Java transactional producer of
// tests/compat/test_eos_checker.py: kafka-clients 4.x, which speaks
// Transactions V2 (KIP-890) to a broker advertising transaction.version 2,
// beside the checker's confluent-kafka producers (V1). It writes the same
// journal as tests/compat/eos_worker.py's producer (see there: R, I, C, A,
// O, F lines; exit 3 on a fatal error, 4 when fenced; SIGTERM finishes the
// transaction under way and exits 0).
//
//   java -cp CLASSPATH EosProducer.java BOOTSTRAP TID INC SEED JOURNAL \
//        TOPIC:PARTITIONS,...
//
// (single-file source launch; CLASSPATH from tests/kafka/java-client/pom.xml)

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.*;
import org.apache.kafka.common.serialization.StringSerializer;

public class EosProducer {
    static FileOutputStream journal;
    static volatile boolean stopping = false;

    static synchronized void journal(String line) {
        try {
            // One write(2) per line: a kill -9 of this process keeps it.
            journal.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            System.exit(3);
        }
    }

    static String q(String s) {
        return "\"" + s + "\"";   // values and topics are plain ASCII
    }

    static void fatal(Exception e) {
        journal("F " + e.getClass().getSimpleName() + ": "
                + String.valueOf(e.getMessage()).replace('\n', ' '));
        boolean fenced = e instanceof ProducerFencedException
                || e instanceof InvalidProducerEpochException
                || e.getCause() instanceof ProducerFencedException;
        Runtime.getRuntime().halt(fenced ? 4 : 3);
    }

    static boolean isFatal(Exception e) {
        return e instanceof ProducerFencedException
                || e instanceof OutOfOrderSequenceException
                || e instanceof AuthorizationException
                || e instanceof UnsupportedVersionException
                || e instanceof InvalidProducerEpochException
                || e instanceof IllegalStateException;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], tid = args[1];
        int inc = Integer.parseInt(args[2]);
        Random rng = new Random(Long.parseLong(args[3]));
        journal = new FileOutputStream(args[4], true);
        List<String> topics = new ArrayList<>();
        Map<String, Integer> parts = new TreeMap<>();
        for (String tp : args[5].split(",")) {
            String[] a = tp.split(":");
            parts.put(a[0], Integer.parseInt(a[1]));
        }
        topics.addAll(parts.keySet());
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            try {
                main.join(60000);
            } catch (InterruptedException e) {
            }
        }));

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", tid);
        p.put("transaction.timeout.ms", "60000");
        p.put("delivery.timeout.ms", "60000");
        p.put("request.timeout.ms", "10000");
        p.put("max.block.ms", "20000");
        p.put("linger.ms", "2");
        p.put("reconnect.backoff.ms", "20");
        p.put("reconnect.backoff.max.ms", "300");
        p.put("retry.backoff.ms", "50");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        KafkaProducer<String, String> prod = new KafkaProducer<>(p);
        for (int tries = 0;; tries++) {
            try {
                prod.initTransactions();
                break;
            } catch (TimeoutException e) {
                if (tries > 20)
                    fatal(e);
            } catch (Exception e) {
                fatal(e);
            }
        }
        journal("R");
        Map<String, Long> delivered = new ConcurrentHashMap<>();
        for (int k = 1; !stopping; k++) {
            List<String[]> recs = new ArrayList<>();
            List<String> pick = new ArrayList<>(topics);
            Collections.shuffle(pick, rng);
            pick = pick.subList(0, 1 + rng.nextInt(pick.size()));
            StringBuilder intent = new StringBuilder("I " + k + " [");
            for (String t : pick) {
                List<Integer> ps = new ArrayList<>();
                for (int i = 0; i < parts.get(t); i++)
                    ps.add(i);
                Collections.shuffle(ps, rng);
                for (int part : ps.subList(0, 1 + rng.nextInt(ps.size()))) {
                    for (int n = 1 + rng.nextInt(3); n > 0; n--) {
                        String v = tid + "." + inc + "." + k + "." + recs.size();
                        if (!recs.isEmpty())
                            intent.append(", ");
                        intent.append("[" + q(t) + ", " + part + ", " + q(v) + "]");
                        recs.add(new String[] {t, String.valueOf(part), v});
                    }
                }
            }
            journal(intent.append("]").toString());
            delivered.clear();
            boolean commit = rng.nextDouble() < 0.7;
            try {
                prod.beginTransaction();
                for (String[] r : recs) {
                    final String v = r[2];
                    prod.send(new ProducerRecord<>(r[0], Integer.parseInt(r[1]),
                                      String.valueOf(k), v),
                            (md, err) -> {
                                if (err == null)
                                    delivered.put(v, md.offset());
                            });
                }
                if (commit) {
                    journal("C " + k);
                    for (int tries = 0;; tries++) {
                        try {
                            prod.commitTransaction();
                            break;
                        } catch (TimeoutException e) {
                            // The commit may be retried after a timeout.
                            if (tries > 20)
                                fatal(e);
                        }
                    }
                    StringBuilder o = new StringBuilder("O " + k + " commit {");
                    String sep = "";
                    for (Map.Entry<String, Long> e : delivered.entrySet()) {
                        o.append(sep + q(e.getKey()) + ": " + e.getValue());
                        sep = ", ";
                    }
                    journal(o.append("}").toString());
                    continue;
                }
                journal("A " + k);
                abort(prod);
                journal("O " + k + " abort");
            } catch (KafkaException | IllegalStateException e) {
                if (isFatal(e))
                    fatal(e);
                // Abortable (TransactionAbortableException, a failed send):
                // the commit did not happen.
                journal("A " + k);
                try {
                    abort(prod);
                } catch (Exception e2) {
                    fatal(e2);
                }
                journal("O " + k + " abort");
            }
        }
        prod.close(Duration.ofSeconds(10));
        journal.close();
    }

    static void abort(KafkaProducer<String, String> prod) {
        for (int tries = 0;; tries++) {
            try {
                prod.abortTransaction();
                return;
            } catch (TimeoutException e) {
                if (tries > 20)
                    throw e;
            }
        }
    }
}
