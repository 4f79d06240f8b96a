// SecJava — the Java client (kafka-clients 4.4) in the security tests
// (tests/compat/test_security_clients_jvm_go.py). Its argument is a JSON
// file holding a list of sessions: {"bootstrap", "topic", "n", "props"
// (client properties: security.protocol, ssl.*, sasl.*)}. For each it
// produces n records to partition 0 and reads them back, and prints one
// JSON line per session: produced, consumed (the values read), errors
// (the class of each error the client raised: the simple name of the
// first org.apache.kafka.common.errors exception in the cause chain, or
// of the exception itself). Run by single-file source launch with Kafka's
// classpath (which has Jackson for the JSON).
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class SecJava {
  static String errorClass(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause())
      if (c.getClass().getName().startsWith("org.apache.kafka.common.errors."))
        return c.getClass().getSimpleName();
    return t.getClass().getSimpleName();
  }

  @SuppressWarnings("unchecked")
  public static void main(String[] args) throws Exception {
    ObjectMapper json = new ObjectMapper();
    List<Map<String, Object>> sessions = json.readValue(new File(args[0]), List.class);
    for (Map<String, Object> s : sessions) {
      Properties p = new Properties();
      p.put("bootstrap.servers", s.get("bootstrap"));
      p.putAll((Map<String, Object>) s.get("props"));
      // A refused connection surfaces within seconds, not the default minute.
      p.put("max.block.ms", "15000");
      p.put("request.timeout.ms", "10000");
      p.put("delivery.timeout.ms", "15000");
      p.put("reconnect.backoff.max.ms", "1000");
      String topic = (String) s.get("topic");
      int n = (Integer) s.get("n");
      int produced = 0;
      List<String> consumed = new ArrayList<>();
      LinkedHashSet<String> errors = new LinkedHashSet<>();
      try (Producer<String, String> pr =
          new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
        for (int i = 0; i < n; i++) {
          pr.send(new ProducerRecord<>(topic, 0, null, "v" + i)).get();
          produced++;
        }
      } catch (Exception e) {
        errors.add(errorClass(e));
      }
      if (produced == n && errors.isEmpty()) {
        Properties c = new Properties();
        c.putAll(p);
        c.remove("delivery.timeout.ms");
        c.remove("max.block.ms");
        c.put("default.api.timeout.ms", "15000");
        try (Consumer<String, String> co =
            new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
          TopicPartition tp = new TopicPartition(topic, 0);
          co.assign(List.of(tp));
          co.seekToBeginning(List.of(tp));
          long deadline = System.currentTimeMillis() + 30000;
          while (consumed.size() < n && System.currentTimeMillis() < deadline)
            for (ConsumerRecord<String, String> r : co.poll(Duration.ofMillis(500)))
              consumed.add(r.value());
        } catch (Exception e) {
          errors.add(errorClass(e));
        }
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("produced", produced);
      out.put("consumed", consumed);
      out.put("errors", new ArrayList<>(errors));
      System.out.println(json.writeValueAsString(out));
      System.out.flush();
    }
  }
}
