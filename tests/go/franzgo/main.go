// Command franzgo runs one scenario with franz-go (kgo, kadm) against the
// broker given as its argument and prints one JSON document of everything
// the client observed. tests/compat/test_diff_franz_go.py runs it against
// Apache Kafka and against nodata serve and compares the two documents.
//
// Values that legitimately differ between brokers (node id, cluster id,
// member ids, wall-clock times) are normalised here: a node id is recorded
// as whether it is the broker's own, a member id not at all.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"nodata/tests/go/internal/out"
)

const (
	topic = "fg"
	parts = 3
)

// t0 is the base of the records' timestamps (out.T0).
var t0 = out.T0

var ctx = context.Background()

var memberUUID = regexp.MustCompile(
	`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// The configs compared after create and alter: the ones both brokers
// describe for every topic (nodata does not list all of Kafka's).
var configKeys = []string{
	"cleanup.policy", "compression.type", "max.message.bytes",
	"message.timestamp.type", "retention.bytes", "retention.ms",
	"segment.bytes",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: franzgo BOOTSTRAP")
		os.Exit(2)
	}
	boot := os.Args[1]
	seen := map[string]any{}
	adm := kadm.NewClient(newClient(boot))
	defer adm.Close()

	admin(adm, seen)
	produce(boot, adm, seen)
	consumePartitions(boot, seen)
	groups(boot, adm, seen)
	offsets(adm, seen)
	out.Print(seen)
}

func newClient(boot string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(boot)},
		opts...)...)
	out.Check(err)
	return cl
}

func admin(adm *kadm.Client, seen map[string]any) {
	created, err := adm.CreateTopics(ctx, parts, 1, map[string]*string{
		"retention.ms":   kadm.StringPtr("86400000"),
		"cleanup.policy": kadm.StringPtr("delete"),
		"segment.bytes":  kadm.StringPtr("1048576"),
	}, topic)
	out.Check(err)
	zstd, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"compression.type": kadm.StringPtr("zstd")}, "fg-zstd")
	out.Check(err)
	for k, v := range zstd {
		created[k] = v
	}
	var cr []any
	names := make([]string, 0, len(created))
	for name := range created {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := created[name]
		cfg := map[string]any{}
		for _, k := range configKeys {
			if c, ok := r.Configs[k]; ok {
				cfg[k] = []any{c.MaybeValue(), c.Source.String()}
			}
		}
		cr = append(cr, map[string]any{"topic": r.Topic,
			"err": out.Err(r.Err), "partitions": r.NumPartitions,
			"replication": r.ReplicationFactor, "configs": cfg,
			"has_id": r.ID != kadm.TopicID{}})
	}
	seen["create"] = cr
	again, err := adm.CreateTopics(ctx, 1, 1, nil, topic)
	out.Check(err)
	seen["create_again"] = out.Err(again[topic].Err)
	bad, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("nonsense")}, "fg-bad")
	out.Check(err)
	seen["create_bad_config"] = out.Err(bad["fg-bad"].Err)

	brokers, err := adm.ListBrokers(ctx)
	out.Check(err)
	seen["list_brokers"] = brokerShape(brokers)
	md, err := adm.Metadata(ctx, topic, "fg-missing")
	out.Check(err)
	self := md.Brokers[0].NodeID
	topics := map[string]any{}
	for name, td := range md.Topics {
		var ps []any
		for _, p := range td.Partitions.Sorted() {
			ps = append(ps, map[string]any{"partition": p.Partition,
				"leader_is_broker": p.Leader == self,
				"replicas":         len(p.Replicas), "isr": len(p.ISR),
				"offline": len(p.OfflineReplicas), "err": out.Err(p.Err)})
		}
		topics[name] = map[string]any{"err": out.Err(td.Err),
			"internal": td.IsInternal, "partitions": ps,
			"has_id": td.ID != kadm.TopicID{}}
	}
	seen["metadata"] = map[string]any{"brokers": brokerShape(md.Brokers),
		"controller_is_broker": md.Controller == self,
		"has_cluster_id":       md.Cluster != "", "topics": topics}

	seen["configs_created"] = describeConfigs(adm, topic)
	seen["configs_missing"] = describeConfigs(adm, "fg-missing")
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms",
			Value: kadm.StringPtr("3600000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes",
			Value: kadm.StringPtr("500000")},
		{Op: kadm.DeleteConfig, Name: "segment.bytes"},
	}, topic)
	out.Check(err)
	seen["alter"] = alterShape(alter)
	// Kafka applies an alter through its metadata log: a describe right
	// after may still show the old values, so wait until it does not.
	for deadline := time.Now().Add(30 * time.Second); ; {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		out.Check(err)
		if c, err := rcs.On(topic, nil); err == nil && hasConfig(c,
			"retention.ms", "3600000") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen["configs_altered"] = describeConfigs(adm, topic)
	alter, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "no.such.config",
			Value: kadm.StringPtr("1")}}, topic)
	out.Check(err)
	seen["alter_unknown_config"] = alterShape(alter)
	alter, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms",
			Value: kadm.StringPtr("1")}}, "fg-missing")
	out.Check(err)
	seen["alter_missing_topic"] = alterShape(alter)
}

func hasConfig(rc kadm.ResourceConfig, key, value string) bool {
	for _, c := range rc.Configs {
		if c.Key == key && c.MaybeValue() == value {
			return true
		}
	}
	return false
}

func brokerShape(bs kadm.BrokerDetails) []any {
	var r []any
	for _, b := range bs {
		r = append(r, map[string]any{"host": b.Host,
			"has_rack": b.Rack != nil})
	}
	return r
}

func alterShape(rs kadm.AlterConfigsResponses) []any {
	var r []any
	for _, a := range rs {
		r = append(r, []any{a.Name, out.Err(a.Err)})
	}
	return r
}

func describeConfigs(adm *kadm.Client, t string) any {
	rcs, err := adm.DescribeTopicConfigs(ctx, t)
	var r []any
	if err != nil {
		// kadm reports a per-resource failure both ways.
		r = append(r, map[string]any{"request_err": out.Err(err)})
	}
	for _, rc := range rcs {
		cfg := map[string]any{}
		for _, c := range rc.Configs {
			for _, k := range configKeys {
				if c.Key == k {
					cfg[k] = []any{c.MaybeValue(), c.Source.String(),
						c.Sensitive}
				}
			}
		}
		r = append(r, map[string]any{"name": rc.Name,
			"err": out.Err(rc.Err), "configs": cfg})
	}
	return r
}

// produce sends records with explicit partitions, keys, headers and
// timestamps at every acks level and with every compression codec.
func produce(boot string, adm *kadm.Client, seen map[string]any) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()}}
	acks := []struct {
		name string
		opts []kgo.Opt
	}{
		{"all-idempotent", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
		{"leader", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()),
			kgo.DisableIdempotentWrite()}},
		{"none", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()),
			kgo.DisableIdempotentWrite()}},
	}
	var reports []any
	n := 0
	for _, a := range acks {
		for _, c := range codecs {
			opts := append([]kgo.Opt{
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(c.codec),
				kgo.ProducerLinger(0)}, a.opts...)
			cl := newClient(boot, opts...)
			var recs []*kgo.Record
			for i := 0; i < 4; i++ {
				var value []byte
				if n%13 != 5 { // now and then a tombstone
					// kgo sends a batch uncompressed when compressing
					// does not make it smaller, and how many records a
					// batch holds depends on timing: values that always
					// compress keep the codec the records show fixed.
					value = []byte(fmt.Sprintf("%s/%s/%d %s", a.name,
						c.name, i, strings.Repeat("x", 200*(i+1))))
				}
				recs = append(recs, &kgo.Record{Topic: topic,
					Partition: int32(n % parts),
					Key:       []byte(fmt.Sprintf("key-%d", n%7)),
					Value:     value,
					Timestamp: time.UnixMilli(t0 + 1000*int64(n)),
					Headers: []kgo.RecordHeader{
						{Key: "n", Value: []byte(fmt.Sprint(n))},
						{Key: "empty", Value: []byte{}}}})
				n++
			}
			for _, r := range cl.ProduceSync(ctx, recs...) {
				rep := map[string]any{"acks": a.name, "codec": c.name,
					"err": out.Err(r.Err), "partition": r.Record.Partition,
					"timestamp": r.Record.Timestamp.UnixMilli() - t0}
				if a.name != "none" {
					// With acks=0 nothing answers, so the offset is
					// whatever the client makes up; not compared.
					rep["offset"] = r.Record.Offset
				}
				if a.name == "all-idempotent" {
					rep["has_producer_id"] = r.Record.ProducerID >= 0
					rep["producer_epoch"] = r.Record.ProducerEpoch
				}
				reports = append(reports, rep)
			}
			cl.Close()
			if a.name == "none" {
				// Unanswered: the next client's records, on another
				// connection, must not overtake these.
				waitEnd(adm, int64(n))
			}
		}
	}
	// ProduceSync reports in the order partitions answered; every record
	// has its own timestamp.
	sort.Slice(reports, func(i, j int) bool {
		return reports[i].(map[string]any)["timestamp"].(int64) <
			reports[j].(map[string]any)["timestamp"].(int64)
	})
	seen["produce"] = reports

	// A topic created with compression.type=zstd stores what it is sent
	// recompressed; the consumer sees it in the record attributes.
	cl := newClient(boot, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "fg-zstd",
		Value: []byte("v"), Timestamp: time.UnixMilli(t0)})
	seen["produce_zstd_topic"] = out.Err(res.FirstErr())
	cl.Close()

	// A topic that does not exist, without auto-creation: the client
	// gives up after its retries with the broker's error.
	cl = newClient(boot, kgo.UnknownTopicRetries(1),
		kgo.RecordDeliveryTimeout(20*time.Second))
	res = cl.ProduceSync(ctx, &kgo.Record{Topic: "fg-missing",
		Value: []byte("v")})
	seen["produce_missing_topic"] = out.Err(res.FirstErr())
	cl.Close()
}

// waitEnd waits until topic holds n records.
func waitEnd(adm *kadm.Client, n int64) {
	for deadline := time.Now().Add(30 * time.Second); ; {
		lo, err := adm.ListEndOffsets(ctx, topic)
		out.Check(err)
		var sum int64
		lo.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		if sum == n {
			return
		}
		if time.Now().After(deadline) {
			out.Fail("%s holds %d records, not %d, after 30 s", topic, sum, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func recordShape(r *kgo.Record) map[string]any {
	var hs []any
	for _, h := range r.Headers {
		hs = append(hs, []any{h.Key, string(h.Value)})
	}
	m := map[string]any{"topic": r.Topic, "partition": r.Partition,
		"offset": r.Offset, "key": string(r.Key),
		"value": out.Bytes(r.Value), "headers": hs,
		"timestamp":      r.Timestamp.UnixMilli() - t0,
		"timestamp_type": r.Attrs.TimestampType(),
		"compression":    r.Attrs.CompressionType(),
		"transactional":  r.Attrs.IsTransactional()}
	return m
}

// readUntil polls cl until want records arrived.
func readUntil(cl *kgo.Client, want int, what string) []map[string]any {
	var got []map[string]any
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for len(got) < want {
		fs := cl.PollFetches(c)
		if c.Err() != nil {
			out.Fail("%s: %d of %d records in 60 s", what, len(got), want)
		}
		fs.EachError(func(t string, p int32, err error) {
			out.Fail("%s: %s/%d: %v", what, t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, recordShape(r)) })
	}
	sort.Slice(got, func(i, j int) bool {
		a, b := got[i], got[j]
		if a["topic"] != b["topic"] {
			return a["topic"].(string) < b["topic"].(string)
		}
		if a["partition"] != b["partition"] {
			return a["partition"].(int32) < b["partition"].(int32)
		}
		return a["offset"].(int64) < b["offset"].(int64)
	})
	return got
}

func consumePartitions(boot string, seen map[string]any) {
	// 60 records: 20 a partition. Partition 0 from the start, 1 from
	// offset 7, 2 from the end (nothing), then everything after a time.
	cl := newClient(boot, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic:     {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().At(7)},
		"fg-zstd": {0: kgo.NewOffset().AtStart()}}))
	seen["consume_assigned"] = readUntil(cl, 20+13+1, "assign")
	cl.Close()
	cl = newClient(boot, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {2: kgo.NewOffset().AfterMilli(t0 + 50_500)}}))
	// Partition 2 holds records 2, 5, ... 59: after t0+50.5 s, 53..59.
	seen["consume_after_milli"] = readUntil(cl, 3, "after milli")
	cl.Close()
}

// groups runs two static members of one group with the range balancer,
// so the assignment does not depend on the member ids the broker picks.
func groups(boot string, adm *kadm.Client, seen map[string]any) {
	const group = "fg-group"
	var mu sync.Mutex
	assigned := map[string][]any{}
	member := func(id string) *kgo.Client {
		return newClient(boot, kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic), kgo.InstanceID(id),
			kgo.ClientID("client-"+id),
			kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client,
				m map[string][]int32) {
				ps := append([]int32(nil), m[topic]...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mu.Lock()
				assigned[id] = append(assigned[id], ps)
				mu.Unlock()
			}))
	}
	a := member("member-a")
	// a alone gets every partition and reads them all.
	recs := readUntil(a, 60, "member-a alone")
	seen["group_alone_read"] = len(recs)
	out.Check(a.CommitUncommittedOffsets(ctx))
	b := member("member-b")
	// Both poll until the rebalance gave each its share.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(assigned["member-a"]) >= 2 && len(assigned["member-b"]) >= 1
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			out.Fail("group: no rebalance to two members in 60 s: %v",
				assigned)
		}
		for _, c := range []*kgo.Client{a, b} {
			pc, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			c.PollFetches(pc)
			cancel()
		}
	}
	mu.Lock()
	seen["group_assigned"] = assigned
	mu.Unlock()

	dg, err := adm.DescribeGroups(ctx, group)
	out.Check(err)
	d := dg[group]
	var members []any
	for _, m := range d.Members {
		var ps []any
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps = append(ps, []any{t.Topic, t.Partitions})
			}
		}
		var subs []string
		if c, ok := m.Join.AsConsumer(); ok {
			subs = c.Topics
		}
		members = append(members, map[string]any{
			"instance_id": out.Str(m.InstanceID), "client_id": m.ClientID,
			"has_member_id": m.MemberID != "", "assigned": ps,
			"subscribed": subs})
	}
	seen["describe_group"] = map[string]any{"state": d.State,
		"protocol_type": d.ProtocolType, "protocol": d.Protocol,
		"err": out.Err(d.Err), "members": members}
	lg, err := adm.ListGroups(ctx)
	out.Check(err)
	var listed []any
	for _, g := range lg.Sorted() {
		listed = append(listed, map[string]any{"group": g.Group,
			"state": g.State, "protocol_type": g.ProtocolType,
			"type": g.GroupType})
	}
	seen["list_groups"] = listed
	a.Close()
	b.Close()
	// Static members do not leave when they close (KIP-345): the group
	// stays Stable until their sessions time out.
	lg, err = adm.ListGroups(ctx)
	out.Check(err)
	listed = nil
	for _, g := range lg.Sorted() {
		listed = append(listed, []any{g.Group, g.State})
	}
	seen["list_groups_after_close"] = listed
	missing, err := adm.DescribeGroups(ctx, "fg-no-such-group")
	out.Check(err)
	seen["describe_missing_group"] = map[string]any{
		"state": missing["fg-no-such-group"].State,
		"err":   out.Err(missing["fg-no-such-group"].Err)}
}

func offsetResponses(rs kadm.OffsetResponses, err error) any {
	if err != nil {
		return map[string]any{"request_err": out.Err(err)}
	}
	var r []any
	rs.Each(func(o kadm.OffsetResponse) {
		// kgo commits with its member id as metadata; the broker picks
		// the id's uuid part.
		meta := memberUUID.ReplaceAllString(o.Metadata, "<uuid>")
		r = append(r, []any{o.Topic, o.Partition, o.At, meta,
			out.Err(o.Err)})
	})
	sort.Slice(r, func(i, j int) bool {
		return fmt.Sprint(r[i]) < fmt.Sprint(r[j])
	})
	return r
}

func listed(lo kadm.ListedOffsets, err error) any {
	if err != nil {
		return map[string]any{"request_err": out.Err(err)}
	}
	var r []any
	lo.Each(func(o kadm.ListedOffset) {
		ts := o.Timestamp
		if ts >= 0 {
			ts -= t0
		}
		r = append(r, []any{o.Topic, o.Partition, o.Offset, ts,
			out.Err(o.Err)})
	})
	sort.Slice(r, func(i, j int) bool {
		return fmt.Sprint(r[i]) < fmt.Sprint(r[j])
	})
	return r
}

func offsets(adm *kadm.Client, seen map[string]any) {
	seen["fetch_offsets_group"] = offsetResponses(adm.FetchOffsets(ctx,
		"fg-group"))
	var os kadm.Offsets
	for p := int32(0); p < parts; p++ {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(3 + p),
			LeaderEpoch: -1, Metadata: fmt.Sprintf("meta-%d", p)})
	}
	seen["commit_offsets"] = offsetResponses(adm.CommitOffsets(ctx,
		"fg-commit", os))
	seen["fetch_offsets_commit"] = offsetResponses(adm.FetchOffsets(ctx,
		"fg-commit"))
	seen["fetch_offsets_unknown_group"] = offsetResponses(
		adm.FetchOffsets(ctx, "fg-nobody"))

	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5})
	del.Add(kadm.Offset{Topic: topic, Partition: 1, At: 25}) // past the end
	dr, err := adm.DeleteRecords(ctx, del)
	out.Check(err)
	var drs []any
	dr.Each(func(d kadm.DeleteRecordsResponse) {
		drs = append(drs, []any{d.Topic, d.Partition, d.LowWatermark,
			out.Err(d.Err)})
	})
	sort.Slice(drs, func(i, j int) bool {
		return fmt.Sprint(drs[i]) < fmt.Sprint(drs[j])
	})
	seen["delete_records"] = drs
	var delMissing kadm.Offsets
	delMissing.Add(kadm.Offset{Topic: "fg-missing", Partition: 0, At: 1})
	dr, err = adm.DeleteRecords(ctx, delMissing)
	seen["delete_records_missing"] = []any{out.Err(err),
		out.Err(dr.Error())}

	seen["list_start"] = listed(adm.ListStartOffsets(ctx, topic))
	seen["list_end"] = listed(adm.ListEndOffsets(ctx, topic))
	for _, ms := range []int64{t0 - 1, t0 + 30_500, t0 + 59_000,
		t0 + 10_000_000} {
		seen[fmt.Sprintf("list_after_milli_%d", ms-t0)] = listed(
			adm.ListOffsetsAfterMilli(ctx, ms, topic))
	}
	lo, err := adm.ListEndOffsets(ctx, "fg-missing")
	seen["list_end_missing"] = []any{out.Err(err), out.Err(lo.Error())}
	if e := errors.Unwrap(err); e != nil {
		seen["list_end_missing_cause"] = out.Err(e)
	}
}
