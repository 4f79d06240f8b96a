// JavaClientVersions.java — the Apache Kafka Java client (Admin, an
// idempotent Producer, a transactional Producer, a classic-protocol
// Consumer group) against one
// broker, using every API nodata serves that the client has a call for.
// Run by tests/compat/test_java_client_versions.py as a single-file source
// program: java -cp <kafka-clients classpath> JavaClientVersions.java
// BOOTSTRAP. It prints "client-max <key> <version>" for every API key (the
// newest stable version: what this client sends to a broker that does not
// enable unstable versions, as Kafka does not by default) and "ok <step>" after each step; any
// failure throws and exits non-zero. The test reads NetworkClient's DEBUG
// log (stderr) for the versions negotiated and used.

import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaClientVersions {
  static final Duration T = Duration.ofSeconds(60);

  static void ok(String step) {
    System.out.println("ok " + step);
    System.out.flush();
  }

  /* A call both brokers refuse for want of an authorizer. */
  static void disabled(String step, KafkaFuture<?> f) throws Exception {
    try {
      f.get();
      throw new IllegalStateException(step + " succeeded without an authorizer");
    } catch (java.util.concurrent.ExecutionException e) {
      if (!(e.getCause() instanceof SecurityDisabledException))
        throw e;
    }
    ok(step);
  }

  public static void main(String[] args) throws Exception {
    for (ApiKeys k : ApiKeys.values())
      System.out.println("client-max " + k.id + " " + k.latestVersion(false));
    String bootstrap = args[0];
    String topic = "jv";
    String group = "jv-group";
    TopicPartition tp0 = new TopicPartition(topic, 0);

    Properties ap = new Properties();
    ap.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(ap)) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
      ok("CreateTopics");
      admin.describeCluster().nodes().get();
      admin.describeCluster().clusterId().get();
      ok("DescribeCluster");
      admin.describeTopics(List.of(topic)).allTopicNames().get();
      ok("describeTopics");
      admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get();
      ok("CreatePartitions");
      ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
      admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
          new ConfigEntry("retention.ms", "86400000"), AlterConfigOp.OpType.SET))))
          .all().get();
      ok("IncrementalAlterConfigs");
      admin.describeConfigs(List.of(res)).all().get();
      ok("DescribeConfigs");
    }

    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("enable.idempotence", "true");
    pp.put("acks", "all");
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
      for (int i = 0; i < 10; i++)
        p.send(new ProducerRecord<>(topic, 0, 1_700_000_000_000L + i, "k" + i, "v" + i))
            .get();
    }
    ok("InitProducerId+Produce");

    Properties cp = new Properties();
    cp.put("bootstrap.servers", bootstrap);
    cp.put("group.id", group);
    cp.put("group.protocol", "classic");
    cp.put("auto.offset.reset", "earliest");
    cp.put("enable.auto.commit", "false");
    cp.put("heartbeat.interval.ms", "100");
    cp.put("key.deserializer", StringDeserializer.class.getName());
    cp.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
      c.subscribe(List.of(topic));
      int n = 0;
      long deadline = System.currentTimeMillis() + 60_000;
      while (n < 10 && System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
        n += rs.count();
      }
      if (n != 10)
        throw new IllegalStateException("consumed " + n + " of 10");
      ok("FindCoordinator+JoinGroup+SyncGroup+Fetch");
      // Heartbeats at 100 ms while polling.
      long until = System.currentTimeMillis() + 1000;
      while (System.currentTimeMillis() < until)
        c.poll(Duration.ofMillis(100));
      c.commitSync(Map.of(tp0, new OffsetAndMetadata(10)));
      c.committed(Set.of(tp0));
      ok("OffsetCommit+OffsetFetch");
      // A position with a leader epoch is validated against the leader
      // (OffsetForLeaderEpoch).
      c.seek(tp0, new OffsetAndMetadata(5, Optional.of(0), ""));
      c.poll(Duration.ofMillis(500));
      ok("seek with epoch");
    } // close: LeaveGroup
    ok("LeaveGroup");

    // The same through Kafka 4's group protocol (KIP-848): the broker
    // assigns, the consumer only heartbeats; leaving is a heartbeat too.
    Properties np = new Properties();
    np.putAll(cp);
    np.put("group.id", group + "-kip848");
    np.put("group.protocol", "consumer");
    np.remove("heartbeat.interval.ms"); // a broker setting in this protocol
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(np)) {
      c.subscribe(List.of(topic));
      int n = 0;
      long deadline = System.currentTimeMillis() + 60_000;
      while (n < 10 && System.currentTimeMillis() < deadline)
        n += c.poll(Duration.ofMillis(200)).count();
      if (n != 10)
        throw new IllegalStateException("consumed " + n + " of 10 (KIP-848)");
      c.commitSync(Map.of(tp0, new OffsetAndMetadata(10)));
    }
    ok("ConsumerGroupHeartbeat+OffsetCommit");

    try (Admin admin = Admin.create(ap)) {
      for (OffsetSpec spec : List.of(OffsetSpec.earliest(), OffsetSpec.latest(),
               OffsetSpec.maxTimestamp(), OffsetSpec.forTimestamp(1_700_000_000_004L),
               OffsetSpec.earliestLocal(), OffsetSpec.latestTiered(),
               OffsetSpec.earliestPendingUpload()))
        admin.listOffsets(Map.of(tp0, spec)).all().get();
      ok("ListOffsets");
      admin.listGroups().all().get();
      ok("ListGroups");
      admin.describeConsumerGroups(List.of(group)).all().get();
      ok("DescribeGroups");
      admin.describeConsumerGroups(List.of(group + "-kip848")).all().get();
      ok("ConsumerGroupDescribe");
      admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      ok("OffsetFetch (admin)");
      admin.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(3)))
          .all().get();
      ok("OffsetCommit (admin)");
      admin.deleteConsumerGroupOffsets(group, Set.of(tp0)).all().get();
      ok("OffsetDelete");
      admin.deleteConsumerGroups(List.of(group)).all().get();
      ok("DeleteGroups");
      admin.describeProducers(List.of(tp0)).all().get();
      ok("DescribeProducers");
      // A transactional producer: a commit with a group's offsets, an
      // abort. The 4.4 client speaks Transactions V2 to a broker that
      // finalizes transaction.version 2 (both do): partitions and the
      // group join through Produce and TxnOffsetCommit, with no
      // AddPartitionsToTxn or AddOffsetsToTxn.
      String txTopic = topic + "-tx";
      admin.createTopics(List.of(new NewTopic(txTopic, 1, (short) 1))).all().get();
      Properties tp = new Properties();
      tp.put("bootstrap.servers", bootstrap);
      tp.put("transactional.id", "jcv-tx");
      tp.put("key.serializer", StringSerializer.class.getName());
      tp.put("value.serializer", StringSerializer.class.getName());
      try (KafkaProducer<String, String> p = new KafkaProducer<>(tp)) {
        p.initTransactions();
        p.beginTransaction();
        p.send(new ProducerRecord<>(txTopic, 0, "k", "committed")).get();
        p.sendOffsetsToTransaction(
            Map.of(new TopicPartition(txTopic, 0), new OffsetAndMetadata(1)),
            new ConsumerGroupMetadata(group + "-tx"));
        p.commitTransaction();
        p.beginTransaction();
        p.send(new ProducerRecord<>(txTopic, 0, "k", "aborted")).get();
        p.abortTransaction();
      }
      ok("transactions");
      admin.describeTransactions(List.of("jcv-tx")).all().get();
      ok("DescribeTransactions");
      admin.listTransactions().all().get();
      ok("ListTransactions");
      admin.describeLogDirs(admin.describeCluster().nodes().get().stream()
          .map(n -> n.id()).toList()).allDescriptions().get();
      ok("DescribeLogDirs");
      admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(2))).all().get();
      ok("DeleteRecords");
      admin.deleteTopics(List.of(topic)).all().get();
      ok("DeleteTopics");
      // A quota far above anything this sends, so nothing is throttled.
      ClientQuotaEntity quotaEntity = new ClientQuotaEntity(
          Map.of(ClientQuotaEntity.CLIENT_ID, "jcv-quota"));
      admin.alterClientQuotas(List.of(new ClientQuotaAlteration(quotaEntity,
          List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1e9)))))
          .all().get();
      ok("AlterClientQuotas");
      admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get();
      ok("DescribeClientQuotas");
      // No authorizer on either broker: each ACL call is answered
      // SECURITY_DISABLED, which is all this needs (the version it is sent at).
      AclBinding binding = new AclBinding(
          new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
          new AccessControlEntry("User:alice", "*", AclOperation.READ,
              AclPermissionType.ALLOW));
      disabled("DescribeAcls", admin.describeAcls(AclBindingFilter.ANY).values());
      disabled("CreateAcls", admin.createAcls(List.of(binding)).all());
      disabled("DeleteAcls", admin.deleteAcls(List.of(AclBindingFilter.ANY)).all());
    }
  }
}
