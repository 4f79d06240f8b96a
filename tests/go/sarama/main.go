// Command sarama runs one scenario with IBM Sarama against the broker given
// as its argument and prints one JSON document of everything the client
// observed. tests/compat/test_diff_sarama.py runs it against Apache Kafka
// and against nodata serve and compares the two documents.
//
// Node ids are recorded as whether they are the broker's own, member ids
// not at all: they legitimately differ between brokers.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"nodata/tests/go/internal/out"
)

const (
	topic = "sa"
	parts = 3
)

// t0 is the base of the records' timestamps (out.T0).
var t0 = out.T0

var configKeys = []string{
	"cleanup.policy", "compression.type", "max.message.bytes",
	"message.timestamp.type", "retention.ms",
}

func config(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	// The newest protocol version Sarama knows (its MaxVersion): the
	// newest request versions it can send.
	c.Version = sarama.MaxVersion
	c.ClientID = clientID
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// kerr is an error as Kafka's code and Sarama's text for it, and the
// broker's own message when the answer carried one.
func kerr(err error) any {
	if err == nil || errors.Is(err, sarama.ErrNoError) {
		return nil
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return map[string]any{"code": int16(te.Err), "text": te.Err.Error(),
			"message": out.Str(te.ErrMsg)}
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return map[string]any{"code": int16(ke), "text": ke.Error()}
	}
	return map[string]any{"text": err.Error()}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sarama BOOTSTRAP")
		os.Exit(2)
	}
	addrs := []string{os.Args[1]}
	seen := map[string]any{}
	client, err := sarama.NewClient(addrs, config("sarama-admin"))
	out.Check(err)
	defer client.Close()
	adm, err := sarama.NewClusterAdminFromClient(client)
	out.Check(err)

	admin(adm, client, seen)
	produce(addrs, seen)
	consume(addrs, seen)
	groups(addrs, seen)
	offsetManager(client, adm, seen)
	deleteRecords(client, adm, seen)
	out.Print(seen)
}

func admin(adm sarama.ClusterAdmin, client sarama.Client, seen map[string]any) {
	ms := "86400000"
	seen["create"] = kerr(adm.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: parts, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &ms}}, false))
	seen["create_again"] = kerr(adm.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 1, ReplicationFactor: 1}, false))
	seen["create_no_partitions"] = kerr(adm.CreateTopic("sa-zero",
		&sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 1}, false))
	// Kafka creates a topic through its metadata log: wait until the
	// metadata has it (nodata's is there at once).
	for deadline := time.Now().Add(30 * time.Second); ; {
		md, err := adm.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError &&
			len(md[0].Partitions) == parts || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	brokers, _, err := adm.DescribeCluster()
	out.Check(err)
	self := brokers[0].ID()
	md, err := adm.DescribeTopics([]string{topic, "sa-missing"})
	out.Check(err)
	var topics []any
	for _, t := range md {
		var ps []any
		sort.Slice(t.Partitions, func(i, j int) bool {
			return t.Partitions[i].ID < t.Partitions[j].ID
		})
		for _, p := range t.Partitions {
			ps = append(ps, map[string]any{"partition": p.ID,
				"leader_is_broker": p.Leader == self,
				"replicas":         len(p.Replicas), "isr": len(p.Isr),
				"offline": len(p.OfflineReplicas), "err": kerr(p.Err)})
		}
		topics = append(topics, map[string]any{"name": t.Name,
			"err": kerr(t.Err), "internal": t.IsInternal, "partitions": ps})
	}
	seen["describe_topics"] = topics
	seen["brokers"] = len(brokers)

	seen["describe_config"] = describeConfig(adm, topic)
	seen["describe_config_missing"] = describeConfig(adm, "sa-missing")
	parts, err := client.Partitions(topic)
	out.Check(err)
	seen["client_partitions"] = parts
}

func describeConfig(adm sarama.ClusterAdmin, name string) any {
	entries, err := adm.DescribeConfig(sarama.ConfigResource{
		Type: sarama.TopicResource, Name: name})
	if err != nil {
		return map[string]any{"err": kerr(err)}
	}
	cfg := map[string]any{}
	for _, e := range entries {
		for _, k := range configKeys {
			if e.Name == k {
				cfg[k] = map[string]any{"value": e.Value,
					"source": e.Source.String(), "default": e.Default,
					"sensitive": e.Sensitive}
			}
		}
	}
	return cfg
}

// produce sends records with explicit partitions, keys, headers and
// timestamps with every codec through a SyncProducer, idempotent for
// one of them.
func produce(addrs []string, seen map[string]any) {
	codecs := []sarama.CompressionCodec{sarama.CompressionNone,
		sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4, sarama.CompressionZSTD}
	var reports []any
	n := 0
	for round, idem := range []bool{false, true} {
		for _, codec := range codecs {
			cfg := config("sarama-producer")
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Compression = codec
			if idem {
				cfg.Producer.Idempotent = true
				cfg.Net.MaxOpenRequests = 1
			}
			p, err := sarama.NewSyncProducer(addrs, cfg)
			out.Check(err)
			var msgs []*sarama.ProducerMessage
			for i := 0; i < 3; i++ {
				m := &sarama.ProducerMessage{Topic: topic,
					Partition: int32(n % parts),
					Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", n%5)),
					Timestamp: time.UnixMilli(t0 + 1000*int64(n)),
					Headers: []sarama.RecordHeader{
						{Key: []byte("n"), Value: []byte(fmt.Sprint(n))},
						{Key: []byte("empty"), Value: []byte{}}}}
				if n%11 != 4 { // now and then a tombstone
					m.Value = sarama.StringEncoder(fmt.Sprintf("%d/%s/%d %s",
						round, codec, i, strings.Repeat("y", 30*i)))
				}
				msgs = append(msgs, m)
				n++
			}
			err = p.SendMessages(msgs)
			for _, m := range msgs {
				reports = append(reports, map[string]any{
					"idempotent": idem, "codec": codec.String(),
					"partition": m.Partition, "offset": m.Offset,
					"timestamp": m.Timestamp.UnixMilli() - t0})
			}
			seen[fmt.Sprintf("produce_err_%v_%s", idem, codec)] = kerr(err)
			out.Check(p.Close())
		}
	}
	seen["produce"] = reports

	cfg := config("sarama-producer")
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 1
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	p, err := sarama.NewSyncProducer(addrs, cfg)
	out.Check(err)
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "sa-missing",
		Value: sarama.StringEncoder("v")})
	seen["produce_missing_topic"] = kerr(err)
	out.Check(p.Close())
}

func message(m *sarama.ConsumerMessage) map[string]any {
	var hs []any
	for _, h := range m.Headers {
		hs = append(hs, []any{string(h.Key), string(h.Value)})
	}
	return map[string]any{"partition": m.Partition, "offset": m.Offset,
		"key": out.Bytes(m.Key), "value": out.Bytes(m.Value),
		"headers": hs, "timestamp": m.Timestamp.UnixMilli() - t0}
}

func take(pc sarama.PartitionConsumer, n int, what string) []any {
	var got []any
	timeout := time.After(60 * time.Second)
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, message(m))
		case e := <-pc.Errors():
			out.Fail("%s: %v", what, e)
		case <-timeout:
			out.Fail("%s: %d of %d messages in 60 s", what, len(got), n)
		}
	}
	return got
}

// consume reads partition 0 from the oldest offset, 1 from offset 4 and
// 2 from the newest (it sees only a record produced after it started).
func consume(addrs []string, seen map[string]any) {
	c, err := sarama.NewConsumer(addrs, config("sarama-consumer"))
	out.Check(err)
	defer c.Close()
	pc0, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	out.Check(err)
	seen["consume_oldest"] = take(pc0, 10, "partition 0 from oldest")
	pc1, err := c.ConsumePartition(topic, 1, 4)
	out.Check(err)
	seen["consume_offset_4"] = take(pc1, 6, "partition 1 from 4")
	pc2, err := c.ConsumePartition(topic, 2, sarama.OffsetNewest)
	out.Check(err)
	seen["high_water_before"] = []int64{pc0.HighWaterMarkOffset(),
		pc1.HighWaterMarkOffset()}

	cfg := config("sarama-producer")
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(addrs, cfg)
	out.Check(err)
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic,
		Partition: 2, Value: sarama.StringEncoder("late"),
		Timestamp: time.UnixMilli(t0 + 100_000)})
	out.Check(err)
	out.Check(p.Close())
	seen["late"] = []any{part, off}
	seen["consume_newest"] = take(pc2, 1, "partition 2 from newest")
	seen["high_water_after"] = pc2.HighWaterMarkOffset()
	for _, pc := range []sarama.PartitionConsumer{pc0, pc1, pc2} {
		out.Check(pc.Close())
	}
	_, err = c.ConsumePartition(topic, 0, 1000)
	seen["consume_out_of_range"] = kerr(err)
}

type handler struct {
	id       string
	mu       *sync.Mutex
	assigned map[string][]any
	read     map[string]int
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	ps := append([]int32(nil), s.Claims()[topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.mu.Lock()
	h.assigned[h.id] = append(h.assigned[h.id], ps)
	h.mu.Unlock()
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession,
	c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			s.MarkMessage(m, "")
			h.mu.Lock()
			h.read[h.id]++
			h.mu.Unlock()
		case <-s.Context().Done():
			return nil
		}
	}
}

// groups runs two members of one group with the range strategy. Sarama's
// range orders members by member id, which both brokers make of the
// client id and a uuid: distinct client ids make the order fixed.
func groups(addrs []string, seen map[string]any) {
	const group = "sa-group"
	var mu sync.Mutex
	h := map[string][]any{}
	read := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var members []sarama.ConsumerGroup
	start := func(id string) {
		cfg := config("sarama-" + id)
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{
			sarama.NewBalanceStrategyRange()}
		g, err := sarama.NewConsumerGroup(addrs, group, cfg)
		out.Check(err)
		members = append(members, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hd := &handler{id: id, mu: &mu, assigned: h, read: read}
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, hd); err != nil &&
					ctx.Err() == nil {
					out.Fail("group member %s: %v", id, err)
				}
			}
		}()
	}
	wait := func(what string, done func() bool) {
		for deadline := time.Now().Add(60 * time.Second); ; {
			mu.Lock()
			ok := done()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				out.Fail("group: %s not in 60 s: %v %v", what, h, read)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start("a")
	// 31 records: 30 produced and the late one.
	wait("a reading all", func() bool { return read["a"] == 31 })
	start("b")
	wait("the rebalance", func() bool {
		return len(h["a"]) >= 2 && len(h["b"]) >= 1
	})
	describeGroup(addrs, group, seen)
	cancel()
	wg.Wait()
	for _, g := range members {
		out.Check(g.Close())
	}
	seen["group_assigned"] = h
	seen["group_read"] = read
}

// describeGroup records the group as ClusterAdmin describes and lists
// it, members by client id (their member ids differ between brokers).
func describeGroup(addrs []string, group string, seen map[string]any) {
	adm, err := sarama.NewClusterAdmin(addrs, config("sarama-admin-group"))
	out.Check(err)
	defer adm.Close()
	ds, err := adm.DescribeConsumerGroups([]string{group, "sa-nobody"})
	out.Check(err)
	var groups []any
	for _, d := range ds {
		var members []any
		for _, m := range d.Members {
			a, err := m.GetMemberAssignment()
			out.Check(err)
			members = append(members, map[string]any{
				"client_id": m.ClientId, "assigned": a.Topics,
				"has_member_id": m.MemberId != ""})
		}
		sort.Slice(members, func(i, j int) bool {
			return members[i].(map[string]any)["client_id"].(string) <
				members[j].(map[string]any)["client_id"].(string)
		})
		groups = append(groups, map[string]any{"group": d.GroupId,
			"err": kerr(d.Err), "state": d.State,
			"protocol_type": d.ProtocolType, "protocol": d.Protocol,
			"members": members})
	}
	seen["describe_groups"] = groups
	listed, err := adm.ListConsumerGroups()
	out.Check(err)
	seen["list_groups"] = listed
}

func offsetBlocks(r *sarama.OffsetFetchResponse, err error) any {
	if err != nil {
		return map[string]any{"err": kerr(err)}
	}
	var bs []any
	for p := int32(0); p < parts; p++ {
		b := r.GetBlock(topic, p)
		if b == nil {
			bs = append(bs, nil)
			continue
		}
		bs = append(bs, []any{p, b.Offset, b.Metadata, kerr(b.Err)})
	}
	return bs
}

// offsetManager commits with Sarama's OffsetManager and reads the commits
// back with a fresh one and with ClusterAdmin.ListConsumerGroupOffsets.
func offsetManager(client sarama.Client, adm sarama.ClusterAdmin,
	seen map[string]any) {
	tps := map[string][]int32{topic: {0, 1, 2}}
	seen["group_offsets"] = offsetBlocks(adm.ListConsumerGroupOffsets(
		"sa-group", tps))
	om, err := sarama.NewOffsetManagerFromClient("sa-om", client)
	out.Check(err)
	var poms []sarama.PartitionOffsetManager
	for p := int32(0); p < parts; p++ {
		pom, err := om.ManagePartition(topic, p)
		out.Check(err)
		pom.MarkOffset(int64(2+p), fmt.Sprintf("meta-%d", p))
		poms = append(poms, pom)
	}
	om.Commit()
	for _, pom := range poms {
		out.Check(pom.Close())
	}
	out.Check(om.Close())
	om, err = sarama.NewOffsetManagerFromClient("sa-om", client)
	out.Check(err)
	var next []any
	for p := int32(0); p < parts; p++ {
		pom, err := om.ManagePartition(topic, p)
		out.Check(err)
		o, meta := pom.NextOffset()
		next = append(next, []any{o, meta})
		out.Check(pom.Close())
	}
	out.Check(om.Close())
	seen["offset_manager_next"] = next
	seen["om_offsets"] = offsetBlocks(adm.ListConsumerGroupOffsets("sa-om",
		tps))
	seen["unknown_group_offsets"] = offsetBlocks(
		adm.ListConsumerGroupOffsets("sa-nobody", tps))
}

func deleteRecords(client sarama.Client, adm sarama.ClusterAdmin,
	seen map[string]any) {
	seen["delete_records"] = kerr(adm.DeleteRecords(topic,
		map[int32]int64{0: 4}))
	seen["delete_records_past_end"] = kerr(adm.DeleteRecords(topic,
		map[int32]int64{1: 1000}))
	seen["delete_records_missing"] = kerr(adm.DeleteRecords("sa-missing",
		map[int32]int64{0: 1}))
	var os []any
	for p := int32(0); p < parts; p++ {
		lo, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		out.Check(err)
		hi, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		out.Check(err)
		at, err := client.GetOffset(topic, p, t0+7_500)
		out.Check(err)
		os = append(os, []int64{lo, hi, at})
	}
	seen["offsets_after_delete"] = os
}
