// CgroupJava.java — consumer groups of the KIP-848 protocol as the reference
// Java client (kafka-clients 4.4, group.protocol=consumer) sees them, printed
// as one JSON document; tests/compat/test_cgroup_java.py runs it against
// Apache Kafka and against nodata and compares the "compare" parts.
//
//   java -cp CLASSPATH CgroupJava.java SCENARIO... BOOTSTRAP
//
// Scenarios (each its own topics and group):
//   uniform  dynamic members (c2 static) with group.remote.assignor=uniform
//            on 12 partitions: c1, c2, c3 join one at a time, c3 leaves,
//            c4 joins, c2 (static) closes and a new c2 with the same
//            group.instance.id comes back;
//   range    the same steps with range, every member static: Kafka's range
//            assignor orders members by instance id, so which member gets
//            which partitions is the same whatever the member ids;
//   pattern  two members subscribed by a broker-side regular expression
//            (SubscriptionPattern, RE2/J), a matching topic created while
//            they run, a non-matching one never assigned; and the errors of
//            patterns RE2/J refuses.
//
// Records are produced to every partition before the members start and all
// the time they run. Each member polls, records what it consumed, and
// commits it synchronously after every batch (group.protocol=consumer
// commits carry the member epoch), so a partition's next owner starts where
// the previous one stopped: every record must be consumed exactly once.
// Every rebalance listener callback is logged with a global sequence number,
// so the timeline shows whether a partition was ever held by two members.
//
// Member ids are random, and the uniform assignor's choice of partitions
// depends on hash orders of member and topic ids (it is sticky and balanced,
// not ordered), so what is compared is id-independent: members are named by
// client.id; for uniform, how many partitions each holds and how many moved
// at each step; for range (static members) and pattern, the partitions
// themselves where they are determined.

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.*;

public class CgroupJava {
  static String bootstrap;
  static final AtomicLong SEQ = new AtomicLong();
  // How long a wait may take (-Dcgroup.deadline.ms=N shortens it to debug).
  static final long DEADLINE_MS = Long.getLong("cgroup.deadline.ms", 60_000);
  static final List<Map<String, Object>> timeline =
      Collections.synchronizedList(new ArrayList<>());
  // (topic-partition, offset) -> the members that consumed it
  static final ConcurrentHashMap<String, List<String>> consumed = new ConcurrentHashMap<>();
  static Admin admin;
  static final Map<String, Integer> lastEpoch = new HashMap<>();

  public static void main(String[] args) throws Exception {
    bootstrap = args[args.length - 1];
    Map<String, Object> out = new LinkedHashMap<>();
    Map<String, Object> raw = new LinkedHashMap<>();
    admin = Admin.create(props());
    try {
      for (int i = 0; i < args.length - 1; i++) {
        timeline.clear();
        consumed.clear();
        Map<String, Object> cmp = new LinkedHashMap<>();
        switch (args[i]) {
          case "uniform" -> steps(cmp, "uniform", false);
          case "range" -> steps(cmp, "range", true);
          case "pattern" -> pattern(cmp);
          default -> throw new IllegalArgumentException(args[i]);
        }
        out.put(args[i], cmp);
        raw.put(args[i], new ArrayList<>(timeline));
      }
    } finally {
      admin.close();
    }
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("compare", out);
    doc.put("timeline", raw);
    ObjectMapper m = new ObjectMapper();
    m.enable(SerializationFeature.INDENT_OUTPUT);
    System.out.println(m.writeValueAsString(doc));
    System.exit(0); // a stuck client thread must not keep the JVM alive
  }

  // ---- helpers ---------------------------------------------------------

  static Properties props(String... kv) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
    return p;
  }

  static String tp(TopicPartition p) {
    return p.topic() + "-" + p.partition();
  }

  static List<String> names(Collection<TopicPartition> ps) {
    List<String> l = new ArrayList<>();
    for (TopicPartition p : ps) l.add(tp(p));
    Collections.sort(l);
    return l;
  }

  static void waitFor(String what, Supplier<Boolean> cond) throws Exception {
    long end = System.currentTimeMillis() + DEADLINE_MS;
    while (!cond.get()) {
      if (System.currentTimeMillis() > end)
        throw new IllegalStateException("not after " + DEADLINE_MS + " ms: " + what
            + "; timeline " + timeline + "; the groups: " + groupsNow());
      Thread.sleep(50);
    }
  }

  // What the broker says of every group, for a failure's message.
  static String groupsNow() {
    try {
      List<String> ids = new ArrayList<>();
      for (GroupListing g : admin.listGroups().all().get()) ids.add(g.groupId());
      return admin.describeConsumerGroups(ids).all().get().toString();
    } catch (Exception e) {
      return "(describing them failed: " + e + ")";
    }
  }

  static void createTopics(Map<String, Integer> topics) throws Exception {
    List<NewTopic> l = new ArrayList<>();
    topics.forEach((t, n) -> l.add(new NewTopic(t, n, (short) 1)));
    admin.createTopics(l).all().get();
    // Every partition has a leader in the metadata before anyone uses it.
    waitFor("topics " + topics.keySet() + " in the metadata", () -> {
      try {
        Map<String, TopicDescription> d = admin.describeTopics(topics.keySet()).allTopicNames().get();
        for (Map.Entry<String, Integer> e : topics.entrySet())
          if (d.get(e.getKey()).partitions().size() != e.getValue()) return false;
        return true;
      } catch (Exception e) {
        return false;
      }
    });
  }

  static List<TopicPartition> partitions(Map<String, Integer> topics) {
    List<TopicPartition> l = new ArrayList<>();
    topics.forEach((t, n) -> {
      for (int i = 0; i < n; i++) l.add(new TopicPartition(t, i));
    });
    return l;
  }

  // ---- produce before and during ----------------------------------------

  static final class Producing implements AutoCloseable {
    final KafkaProducer<String, String> p =
        new KafkaProducer<>(props("acks", "all", "linger.ms", "0"), new StringSerializer(),
            new StringSerializer());
    final List<TopicPartition> parts = new CopyOnWriteArrayList<>();
    final AtomicLong sent = new AtomicLong();
    volatile boolean stop;
    volatile Exception error;
    Thread thread;

    Producing(List<TopicPartition> initial, int before) throws Exception {
      parts.addAll(initial);
      for (int i = 0; i < before; i++) for (TopicPartition t : parts) send(t);
      p.flush();
      thread = new Thread(() -> {
        try {
          while (!stop) {
            for (TopicPartition t : parts) send(t);
            p.flush();
            Thread.sleep(100);
          }
        } catch (Exception e) {
          error = e;
        }
      });
      thread.start();
    }

    void send(TopicPartition t) throws Exception {
      long n = sent.incrementAndGet();
      p.send(new ProducerRecord<>(t.topic(), t.partition(), "k" + n, "v" + n)).get();
    }

    @Override
    public void close() throws Exception {
      stop = true;
      thread.join();
      p.close();
      if (error != null) throw error;
    }
  }

  // ---- a member ----------------------------------------------------------

  static final class Member implements Runnable, ConsumerRebalanceListener {
    final String label, group;
    final KafkaConsumer<String, String> c;
    final Object subscription; // List<String> or SubscriptionPattern
    final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
    final Thread thread = new Thread(this);
    volatile CloseOptions.GroupMembershipOperation closeOp;
    volatile boolean stop;
    volatile Throwable error;
    final List<String> commitErrorNames = Collections.synchronizedList(new ArrayList<>());

    Member(String label, String group, String assignor, String instanceId, Object subscription) {
      this.label = label;
      this.group = group;
      this.subscription = subscription;
      Properties p = props("group.id", group, "group.protocol", "consumer",
          "group.remote.assignor", assignor, "client.id", label, "enable.auto.commit", "false",
          "auto.offset.reset", "earliest");
      if (instanceId != null) p.put("group.instance.id", instanceId);
      c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
      thread.setName(label);
      thread.start();
    }

    @SuppressWarnings("unchecked")
    public void run() {
      try {
        if (subscription instanceof SubscriptionPattern sp) c.subscribe(sp, this);
        else c.subscribe((List<String>) subscription, this);
        while (!stop) {
          ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(100));
          Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
          for (ConsumerRecord<String, String> r : rs) {
            consumed.computeIfAbsent(r.topic() + "-" + r.partition() + "@" + r.offset(),
                k -> Collections.synchronizedList(new ArrayList<>())).add(label);
            next.put(new TopicPartition(r.topic(), r.partition()),
                new OffsetAndMetadata(r.offset() + 1));
          }
          if (!next.isEmpty()) {
            try {
              c.commitSync(next);
            } catch (KafkaException e) {
              commitErrorNames.add(e.getClass().getSimpleName() + ": " + e.getMessage());
            }
          }
        }
        c.close(closeOp == null ? CloseOptions.timeout(Duration.ofSeconds(30))
                                : CloseOptions.groupMembershipOperation(closeOp)
                                      .withTimeout(Duration.ofSeconds(30)));
      } catch (Throwable t) {
        error = t;
        try {
          c.close(CloseOptions.timeout(Duration.ZERO));
        } catch (Throwable ignored) {
        }
      }
    }

    void event(String kind, Collection<TopicPartition> parts) {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("seq", SEQ.incrementAndGet());
      e.put("member", label);
      e.put("event", kind);
      e.put("partitions", names(parts));
      e.put("assignment", names(c.assignment()));
      timeline.add(e);
    }

    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
      event("revoked", parts);
      owned.removeAll(parts);
    }

    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
      owned.addAll(parts);
      event("assigned", parts);
    }

    public void onPartitionsLost(Collection<TopicPartition> parts) {
      event("lost", parts);
      owned.removeAll(parts);
    }

    void close(CloseOptions.GroupMembershipOperation op) throws Exception {
      closeOp = op;
      stop = true;
      thread.join(60_000);
      if (thread.isAlive()) throw new IllegalStateException(label + " did not close");
      check();
    }

    void check() {
      if (error != null) throw new IllegalStateException(label + " failed", error);
    }
  }

  // Every partition held by exactly one live member, and each member's
  // share fair: for uniform at most one apart over all partitions, for
  // range at most one apart in each topic.
  static boolean settled(List<Member> live, List<TopicPartition> all, boolean perTopic) {
    for (Member m : live) m.check();
    Map<TopicPartition, Integer> n = new HashMap<>();
    for (Member m : live) for (TopicPartition p : m.owned) n.merge(p, 1, Integer::sum);
    if (!n.keySet().equals(new HashSet<>(all))) return false;
    for (int v : n.values()) if (v != 1) return false;
    Set<String> topics = new TreeSet<>();
    for (TopicPartition p : all) topics.add(perTopic ? p.topic() : "");
    for (String t : topics) {
      int lo = Integer.MAX_VALUE, hi = 0;
      for (Member m : live) {
        int k = 0;
        for (TopicPartition p : m.owned) if (!perTopic || p.topic().equals(t)) k++;
        lo = Math.min(lo, k);
        hi = Math.max(hi, k);
      }
      if (hi - lo > 1) return false;
    }
    return true;
  }

  // The owner of each partition now, by label.
  static Map<TopicPartition, String> owners(List<Member> live) {
    Map<TopicPartition, String> o = new HashMap<>();
    for (Member m : live) for (TopicPartition p : m.owned) o.put(p, m.label);
    return o;
  }

  // One step's outcome: each member's partitions (or their count), how many
  // partitions changed owner since the previous step, and how many each
  // member kept.
  static Map<String, Object> snapshot(String what, List<Member> live,
      Map<TopicPartition, String> before, boolean sets) throws Exception {
    Map<TopicPartition, String> now = owners(live);
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("step", what);
    // How far the group epoch moved since the previous step: the epochs'
    // history, whatever the first join's epoch.
    String group = live.get(0).group;
    int epoch = admin.describeConsumerGroups(List.of(group)).all().get().get(group)
                    .groupEpoch().orElse(-1);
    s.put("group_epoch_delta", epoch - lastEpoch.getOrDefault(group, 0));
    lastEpoch.put(group, epoch);
    Map<String, Object> members = new TreeMap<>();
    for (Member m : live) {
      int kept = 0;
      for (TopicPartition p : m.owned)
        if (m.label.equals(before.get(p))) kept++;
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("count", m.owned.size());
      d.put("kept", kept);
      if (sets) d.put("partitions", names(m.owned));
      members.put(m.label, d);
    }
    s.put("members", members);
    int moved = 0;
    for (Map.Entry<TopicPartition, String> e : now.entrySet())
      if (!e.getValue().equals(before.get(e.getKey()))) moved++;
    s.put("moved", moved);
    return s;
  }

  // No partition assigned to a member while another still held it, per the
  // callbacks' global order.
  static List<String> overlaps() {
    List<Map<String, Object>> events = new ArrayList<>(timeline);
    events.sort(Comparator.comparingLong(e -> (Long) e.get("seq")));
    Map<String, String> owner = new HashMap<>();
    List<String> bad = new ArrayList<>();
    for (Map<String, Object> e : events) {
      String who = (String) e.get("member");
      @SuppressWarnings("unchecked")
      List<String> ps = (List<String>) e.get("partitions");
      for (String p : ps) {
        if (e.get("event").equals("assigned")) {
          String prev = owner.put(p, who);
          if (prev != null && !prev.equals(who))
            bad.add(p + " assigned to " + who + " while " + prev + " held it (seq " + e.get("seq") + ")");
        } else if (who.equals(owner.get(p))) {
          owner.remove(p);
        }
      }
    }
    return bad;
  }

  // Wait until every record produced was consumed; then how many were
  // consumed twice or never.
  static Map<String, Object> consumption(Producing prod, List<TopicPartition> all) throws Exception {
    Map<TopicPartition, Long> ends = new HashMap<>();
    Map<TopicPartition, OffsetSpec> q = new HashMap<>();
    for (TopicPartition p : all) q.put(p, OffsetSpec.latest());
    admin.listOffsets(q).all().get().forEach((p, r) -> ends.put(p, r.offset()));
    long total = 0;
    for (long v : ends.values()) total += v;
    long want = total;
    Set<String> wanted = new HashSet<>(names(all));
    waitFor("every record consumed (" + want + ")", () -> {
      long got = 0;
      for (String k : consumed.keySet())
        if (wanted.contains(k.substring(0, k.indexOf('@')))) got++;
      return got >= want;
    });
    int twice = 0;
    for (List<String> who : consumed.values()) if (who.size() > 1) twice++;
    Map<String, Object> r = new LinkedHashMap<>();
    long got = 0;
    for (String k : consumed.keySet())
      if (wanted.contains(k.substring(0, k.indexOf('@')))) got++;
    r.put("distinct_consumed_is_end_offsets", got == want);
    r.put("consumed_twice", twice);
    return r;
  }

  // What Admin shows of the group: its listing, and its description with
  // members named by client.id.
  static Map<String, Object> describe(String group, boolean sets) throws Exception {
    Map<String, Object> r = new LinkedHashMap<>();
    for (GroupListing g : admin.listGroups().all().get()) {
      if (!g.groupId().equals(group)) continue;
      r.put("list_type", g.type().map(Object::toString).orElse(null));
      r.put("list_protocol", g.protocol());
      r.put("list_state", g.groupState().map(Object::toString).orElse(null));
    }
    ConsumerGroupDescription d =
        admin.describeConsumerGroups(List.of(group)).all().get().get(group);
    r.put("state", d.groupState().toString());
    r.put("type", d.type().toString());
    r.put("assignor", d.partitionAssignor());
    r.put("simple", d.isSimpleConsumerGroup());
    Integer epoch = d.groupEpoch().orElse(null);
    r.put("target_epoch_is_group_epoch", Objects.equals(d.targetAssignmentEpoch().orElse(null), epoch));
    Map<String, Object> ms = new TreeMap<>();
    for (MemberDescription m : d.members()) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("instance_id", m.groupInstanceId().orElse(null));
      x.put("count", m.assignment().topicPartitions().size());
      if (sets) x.put("partitions", names(m.assignment().topicPartitions()));
      x.put("target_is_assignment", m.targetAssignment()
              .map(t -> t.topicPartitions().equals(m.assignment().topicPartitions()))
              .orElse(null));
      x.put("epoch_is_group_epoch", Objects.equals(m.memberEpoch().orElse(null), epoch));
      x.put("upgraded", m.upgraded().orElse(null));
      ms.put(m.clientId(), x);
    }
    r.put("members", ms);
    return r;
  }

  // Committed offsets of the group: every partition's is its end offset.
  static Map<String, Object> committed(String group, List<TopicPartition> all) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> c =
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
    Map<TopicPartition, OffsetSpec> q = new HashMap<>();
    for (TopicPartition p : all) q.put(p, OffsetSpec.latest());
    Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(q).all().get();
    List<String> behind = new ArrayList<>();
    for (TopicPartition p : all) {
      OffsetAndMetadata o = c.get(p);
      if (o == null || o.offset() != ends.get(p).offset()) behind.add(tp(p));
    }
    Collections.sort(behind);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("partitions", c.size());
    r.put("not_at_end", behind);
    return r;
  }

  // kafka-consumer-groups.sh (ConsumerGroupCommand, run as its own JVM on
  // this classpath) with args: its table, rows split on blanks, with what
  // differs between any two runs or brokers replaced: the coordinator's
  // address and id, member ids, offsets (how many records the producer
  // wrote depends on timing; a lag is kept), and epochs, told relative to
  // the group's (epoch; the steps' group_epoch_delta tell its history).
  static List<List<String>> groupsTool(int epoch, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("java", "-Xmx128m", "-cp",
        System.getProperty("java.class.path"),
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server",
        bootstrap));
    cmd.addAll(List.of(args));
    Process pr = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String text = new String(pr.getInputStream().readAllBytes());
    if (!pr.waitFor(120, TimeUnit.SECONDS) || pr.exitValue() != 0)
      throw new IllegalStateException("kafka-consumer-groups " + String.join(" ", args) + ": " + text);
    text = text.replaceAll("127\\.0\\.0\\.1:\\d+\\s+\\(\\d+\\)", "<coordinator>");
    List<List<String>> rows = new ArrayList<>();
    List<String> header = null;
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("SLF4J")) continue;
      List<String> row = new ArrayList<>(List.of(line.trim().split("\\s+")));
      if (header == null) {
        int id = row.indexOf("(ID)"); // "COORDINATOR (ID)" is one column
        if (id > 0) row.set(id - 1, row.get(id - 1) + " " + row.remove(id));
        header = row;
        rows.add(row);
        continue;
      }
      for (int i = 0; i < row.size() && i < header.size(); i++) {
        String h = header.get(i);
        if (h.equals("CONSUMER-ID") && !row.get(i).equals("-")) row.set(i, "<member id>");
        if ((h.equals("CURRENT-OFFSET") || h.equals("LOG-END-OFFSET"))
            && row.get(i).matches("\\d+"))
          row.set(i, "<offset>");
        if (h.endsWith("EPOCH") && row.get(i).matches("-?\\d+"))
          row.set(i, "<group epoch" + (Integer.parseInt(row.get(i)) == epoch ? ">" : " - "
                      + (epoch - Integer.parseInt(row.get(i))) + ">"));
      }
      rows.add(row);
    }
    // Data rows in a fixed order (the tool's follows its maps).
    if (rows.size() > 1) rows.subList(1, rows.size()).sort(Comparator.comparing(Object::toString));
    return rows;
  }

  // ---- scenarios ----------------------------------------------------------

  // c1, c2, c3 join; c3 leaves; c4 joins; c2 restarts with its instance id.
  static void steps(Map<String, Object> out, String assignor, boolean allStatic) throws Exception {
    String group = "cg-" + assignor;
    Map<String, Integer> topics = new LinkedHashMap<>();
    topics.put("cg-" + assignor + "-a", 6);
    topics.put("cg-" + assignor + "-b", 6);
    createTopics(topics);
    List<TopicPartition> all = partitions(topics);
    List<String> sub = new ArrayList<>(topics.keySet());
    List<Object> steps = new ArrayList<>();
    List<Member> live = new ArrayList<>();
    Map<TopicPartition, String> before = new HashMap<>();
    boolean sets = allStatic; // range with instance ids: determined
    try (Producing prod = new Producing(all, 5)) {
      for (String l : List.of("c1", "c2", "c3")) {
        boolean st = allStatic || l.equals("c2");
        live.add(new Member(l, group, assignor, st ? "i-" + l : null, sub));
        waitFor(l + " joined", () -> settled(live, all, allStatic));
        steps.add(snapshot(l + " joins", live, before, sets));
        before = owners(live);
      }
      Member c3 = live.remove(2);
      c3.close(CloseOptions.GroupMembershipOperation.LEAVE_GROUP);
      waitFor("c3 left", () -> settled(live, all, allStatic));
      steps.add(snapshot("c3 leaves", live, before, sets));
      before = owners(live);
      live.add(new Member("c4", group, assignor, allStatic ? "i-c4" : null, sub));
      waitFor("c4 joined", () -> settled(live, all, allStatic));
      steps.add(snapshot("c4 joins", live, before, sets));
      before = owners(live);
      // The static c2 closes without leaving (epoch -2): its partitions wait
      // for it; a new c2 with the same instance id gets them back.
      Member c2 = live.remove(1);
      Set<TopicPartition> had = new HashSet<>(c2.owned);
      c2.close(CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP);
      Map<String, Object> away = new LinkedHashMap<>();
      away.put("others_unchanged", owners(live).equals(withoutLabel(before, "c2")));
      Member again = new Member("c2", group, assignor, "i-c2", sub);
      live.add(1, again);
      waitFor("c2 back", () -> settled(live, all, allStatic));
      Map<String, Object> s = snapshot("c2 restarts (static)", live, before, sets);
      s.put("same_partitions_back", new HashSet<>(again.owned).equals(had));
      s.put("while_away", away);
      steps.add(s);
      out.put("steps", steps);
      out.put("describe", describe(group, sets));
      prod.close();
      out.put("consumption", consumption(prod, all));
      if (allStatic) { // range: the partitions are determined, so the tables
        Map<String, Object> tool = new LinkedHashMap<>();
        int epoch = admin.describeConsumerGroups(List.of(group)).all().get().get(group)
                        .groupEpoch().orElse(-1);
        tool.put("state", groupsTool(epoch, "--describe", "--group", group, "--state", "--verbose"));
        tool.put("members",
            groupsTool(epoch, "--describe", "--group", group, "--members", "--verbose"));
        out.put("kafka_consumer_groups", tool);
      }
      out.put("commit_errors", commitErrors(live, c3, c2));
      for (Member m : live) m.close(CloseOptions.GroupMembershipOperation.LEAVE_GROUP);
      live.clear();
      out.put("overlaps", overlaps());
      out.put("committed", committed(group, all));
      out.put("describe_after_leaving", describe(group, sets));
    } finally {
      for (Member m : live) {
        m.stop = true;
      }
    }
  }

  // The exceptions the members' commitSync raised (class: message), sorted.
  static List<String> commitErrors(List<Member> live, Member... gone) {
    List<String> l = new ArrayList<>();
    for (Member m : live) l.addAll(m.commitErrorNames);
    for (Member m : gone) l.addAll(m.commitErrorNames);
    Collections.sort(l);
    return l;
  }

  static Map<TopicPartition, String> withoutLabel(Map<TopicPartition, String> m, String label) {
    Map<TopicPartition, String> r = new HashMap<>(m);
    r.values().removeIf(label::equals);
    return r;
  }

  // Subscription by a broker-side regular expression (RE2/J).
  static void pattern(Map<String, Object> out) throws Exception {
    String group = "cg-pattern";
    Map<String, Integer> topics = new LinkedHashMap<>();
    topics.put("cgp.a", 2);
    topics.put("cgp.b", 2);
    topics.put("cgp.other", 2);
    createTopics(topics);
    SubscriptionPattern sp = new SubscriptionPattern("cgp\\.[a-c]");
    List<TopicPartition> matching = new ArrayList<>();
    matching.addAll(partitions(Map.of("cgp.a", 2, "cgp.b", 2)));
    List<Member> live = new ArrayList<>();
    List<Object> steps = new ArrayList<>();
    Map<TopicPartition, String> before = new HashMap<>();
    try (Producing prod = new Producing(partitions(topics), 5)) {
      for (String l : List.of("c1", "c2")) {
        live.add(new Member(l, group, "uniform", null, sp));
        waitFor(l + " joined", () -> settled(live, matching, false));
        steps.add(snapshot(l + " joins", live, before, false));
        before = owners(live);
      }
      // A topic created now that the pattern matches joins the assignment.
      createTopics(Map.of("cgp.c", 4));
      List<TopicPartition> c = partitions(Map.of("cgp.c", 4));
      matching.addAll(c);
      prod.parts.addAll(c);
      // Records in cgp.c now, whatever the producer's pace: the members
      // may settle before its next round.
      for (TopicPartition t : c) prod.send(t);
      waitFor("cgp.c assigned", () -> settled(live, matching, false));
      Map<String, Object> s = snapshot("cgp.c created", live, before, false);
      Set<TopicPartition> union = new HashSet<>();
      for (Member m : live) union.addAll(m.owned);
      s.put("assigned", names(union));
      steps.add(s);
      out.put("steps", steps);
      out.put("describe", describe(group, false));
      prod.close();
      out.put("consumption", consumption(prod, matching));
      out.put("commit_errors", commitErrors(live));
      for (Member m : live) m.close(CloseOptions.GroupMembershipOperation.LEAVE_GROUP);
      live.clear();
      out.put("overlaps", overlaps());
      out.put("committed", committed(group, matching));
    } finally {
      for (Member m : live) m.stop = true;
    }
    // Patterns RE2/J refuses (one Java's own regex accepts): the error the
    // member's poll raises.
    Map<String, Object> refused = new LinkedHashMap<>();
    for (String p : List.of("cgp(", "(?=cgp)cgp.*", "cgp\\")) {
      Properties pr = props("group.id", "cg-bad-" + refused.size(), "group.protocol", "consumer",
          "client.id", "bad");
      try (KafkaConsumer<String, String> b =
               new KafkaConsumer<>(pr, new StringDeserializer(), new StringDeserializer())) {
        b.subscribe(new SubscriptionPattern(p));
        String err = null;
        long end = System.currentTimeMillis() + 30_000;
        while (err == null && System.currentTimeMillis() < end) {
          try {
            b.poll(Duration.ofMillis(200));
          } catch (KafkaException e) {
            err = e.getClass().getSimpleName() + ": " + e.getMessage();
          }
        }
        refused.put(p, err);
      }
    }
    out.put("refused_patterns", refused);
    out.put("accepted_patterns", accepted());
  }

  // RE2/J syntax beyond POSIX ERE, each pattern alone in a group of one
  // member: the topics it is given (all partitions of what the pattern
  // matches as a whole name), or the error its poll raised.
  static Map<String, Object> accepted() throws Exception {
    List<String> patterns = List.of("cgp\\.(?:a|b)", "(?i)CGP\\.A", "cgp\\.\\w",
        "cgp\\.[[:alpha:]]", "cgp\\.\\pL", "cgp\\.a|cgp\\.b", "cgp\\.o.*?",
        "\\Qcgp.a\\E", "cgp\\.(?P<x>a)", "cgp\\.[^a-b]", "cgp\\.a{1,2}");
    Map<String, KafkaConsumer<String, String>> cs = new LinkedHashMap<>();
    Map<String, Object> r = new TreeMap<>();
    try {
      for (String p : patterns) {
        KafkaConsumer<String, String> c = new KafkaConsumer<>(
            props("group.id", "cg-ok-" + cs.size(), "group.protocol", "consumer", "client.id",
                "ok"),
            new StringDeserializer(), new StringDeserializer());
        c.subscribe(new SubscriptionPattern(p));
        cs.put(p, c);
      }
      long end = System.currentTimeMillis() + DEADLINE_MS;
      while (r.size() < cs.size() && System.currentTimeMillis() < end) {
        for (Map.Entry<String, KafkaConsumer<String, String>> e : cs.entrySet()) {
          if (r.containsKey(e.getKey())) continue;
          try {
            e.getValue().poll(Duration.ofMillis(20));
            Set<String> topics = new TreeSet<>();
            for (TopicPartition t : e.getValue().assignment()) topics.add(t.topic());
            if (!topics.isEmpty()) r.put(e.getKey(), new ArrayList<>(topics));
          } catch (KafkaException x) {
            r.put(e.getKey(), x.getClass().getSimpleName() + ": " + x.getMessage());
          }
        }
      }
    } finally {
      for (KafkaConsumer<String, String> c : cs.values()) c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
    for (String p : patterns) r.putIfAbsent(p, "nothing assigned in " + DEADLINE_MS + " ms");
    return r;
  }
}
