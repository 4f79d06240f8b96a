// Command cgroupfranz is a consumer-group scenario of franz-go with its
// KIP-848 option (kgo.ServerSideBalancer, franz-go v1.22.0+): the broker
// assigns, with "uniform" for kgo.StickyBalancer and "range" for
// kgo.RangeBalancer. It prints one JSON document,
// {"compare": {SCENARIO: ...}, "timeline": {SCENARIO: [...]}}, which
// tests/compat/test_cgroup_franz_go.py compares between Apache Kafka and
// nodata (tests/compat/cgroup_diff.py).
//
//	cgroupfranz SCENARIO... BOOTSTRAP
//
// Scenarios (each its own topics and group):
//
//	uniform, range  two topics of 6 partitions: c1, c2, c3 join one at a
//	                time, c3 closes (a dynamic member leaves), c4 joins, the
//	                static member c2 closes (epoch -2: its place is kept)
//	                and a new c2 with the same instance id comes back;
//	pattern         two members with kgo.ConsumeRegex, which franz-go sends
//	                as the heartbeat's SubscribedTopicRegex for the broker
//	                to match; a matching topic created while they run is
//	                assigned, a non-matching one never.
//
// Every member polls in a goroutine of its own with BlockRebalanceOnPoll,
// commits what it polled synchronously, then allows the rebalance, so a
// partition's next owner starts where the previous one stopped. Each
// rebalance callback is logged with a global sequence number. Member ids
// are random, so what is compared is id-independent (see
// tests/kafka/CgroupJava.java): members by client id, each one's share (per
// topic for range), for uniform (sticky) what each kept and how many moved,
// and kadm's DescribeConsumerGroups (ConsumerGroupDescribe) with members
// by client id.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"nodata/tests/go/internal/out"
)

var (
	boot     string
	seq      atomic.Int64
	mu       sync.Mutex // timeline, consumed
	timeline []map[string]any
	consumed = map[string][]string{} // "topic-partition@offset" -> labels
	adm      *kadm.Client
)

const deadline = 60 * time.Second

func tp(t string, p int32) string { return fmt.Sprintf("%s-%d", t, p) }

func topicOf(p string) string { return p[:strings.LastIndexByte(p, '-')] }

func names(m map[string][]int32) []string {
	l := []string{}
	for t, ps := range m {
		for _, p := range ps {
			l = append(l, tp(t, p))
		}
	}
	sort.Strings(l)
	return l
}

func waitFor(what string, cond func() bool) {
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			mu.Lock()
			tl := fmt.Sprint(timeline)
			mu.Unlock()
			if len(tl) > 6000 {
				tl = tl[len(tl)-6000:]
			}
			out.Fail("not after %v: %s\ntimeline: %s", deadline, what, tl)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createTopics(topics map[string]int32) {
	ctx := context.Background()
	for t, n := range topics {
		r, err := adm.CreateTopic(ctx, n, 1, nil, t)
		out.Check(err)
		out.Check(r.Err)
	}
	waitFor("topics in the metadata", func() bool {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return false
		}
		for t, n := range topics {
			d, ok := td[t]
			if !ok || d.Err != nil || int32(len(d.Partitions)) != n {
				return false
			}
		}
		return true
	})
}

func partitions(topics map[string]int32) []string {
	l := []string{}
	for t, n := range topics {
		for i := int32(0); i < n; i++ {
			l = append(l, tp(t, i))
		}
	}
	sort.Strings(l)
	return l
}

// ---- produce before and during ------------------------------------------

type producing struct {
	cl    *kgo.Client
	mu    sync.Mutex
	parts []string
	stop  atomic.Bool
	done  chan struct{}
	err   error
}

func newProducing(parts []string, before int) *producing {
	cl, err := kgo.NewClient(kgo.SeedBrokers(boot),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	out.Check(err)
	p := &producing{cl: cl, parts: parts, done: make(chan struct{})}
	for i := 0; i < before; i++ {
		out.Check(p.round())
	}
	go func() {
		defer close(p.done)
		for !p.stop.Load() {
			if err := p.round(); err != nil {
				p.err = err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return p
}

func (p *producing) add(parts []string) {
	p.mu.Lock()
	p.parts = append(p.parts, parts...)
	p.mu.Unlock()
}

func (p *producing) round() error {
	p.mu.Lock()
	parts := append([]string(nil), p.parts...)
	p.mu.Unlock()
	var rs []*kgo.Record
	for _, s := range parts {
		var n int32
		fmt.Sscan(s[strings.LastIndexByte(s, '-')+1:], &n)
		rs = append(rs, &kgo.Record{Topic: topicOf(s), Partition: n,
			Value: []byte("v")})
	}
	return p.cl.ProduceSync(context.Background(), rs...).FirstErr()
}

func (p *producing) close() {
	p.stop.Store(true)
	<-p.done
	p.cl.Close()
	if p.err != nil {
		out.Fail("producing: %v", p.err)
	}
}

// ---- a member -------------------------------------------------------------

type member struct {
	label      string
	cl         *kgo.Client
	mu         sync.Mutex
	owned      map[string]bool
	stop       atomic.Bool
	done       chan struct{}
	err        error
	commitErrs []string
	leaveErr   string // LeaveGroupContext's error, "" for none
}

func newMember(label, group, assignor string, instance string,
	topics []string, regex bool) *member {
	m := &member{label: label, owned: map[string]bool{},
		done: make(chan struct{})}
	bal := kgo.StickyBalancer()
	if assignor == "range" {
		bal = kgo.RangeBalancer()
	}
	opts := []kgo.Opt{kgo.SeedBrokers(boot), kgo.ClientID(label),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
		kgo.Balancers(bal), kgo.ServerSideBalancer(),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client,
			a map[string][]int32) {
			m.mu.Lock()
			for _, p := range names(a) {
				m.owned[p] = true
			}
			m.mu.Unlock()
			m.event("assigned", a)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client,
			r map[string][]int32) {
			m.event("revoked", r)
			m.drop(r)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client,
			l map[string][]int32) {
			m.event("lost", l)
			m.drop(l)
		}),
	}
	if regex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	if instance != "" {
		opts = append(opts, kgo.InstanceID(instance))
	}
	if lv := os.Getenv("CGROUPFRANZ_LOG"); lv != "" { // the client's log
		level := kgo.LogLevelInfo
		if lv == "debug" {
			level = kgo.LogLevelDebug
		}
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr,
			level, func() string { return label + " " })))
	}
	cl, err := kgo.NewClient(opts...)
	out.Check(err)
	m.cl = cl
	go m.run()
	return m
}

func (m *member) event(kind string, ps map[string][]int32) {
	mu.Lock()
	timeline = append(timeline, map[string]any{"seq": seq.Add(1),
		"member": m.label, "event": kind, "partitions": names(ps)})
	mu.Unlock()
}

func (m *member) drop(ps map[string][]int32) {
	m.mu.Lock()
	for _, p := range names(ps) {
		delete(m.owned, p)
	}
	m.mu.Unlock()
}

func (m *member) ownedList() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := []string{}
	for p := range m.owned {
		l = append(l, p)
	}
	sort.Strings(l)
	return l
}

func (m *member) run() {
	defer close(m.done)
	for !m.stop.Load() {
		ctx, cancel := context.WithTimeout(context.Background(),
			100*time.Millisecond)
		fs := m.cl.PollFetches(ctx)
		cancel()
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded && e.Err != context.Canceled {
				m.mu.Lock()
				m.err = fmt.Errorf("%s[%d]: %w", e.Topic, e.Partition, e.Err)
				m.mu.Unlock()
			}
		}
		var rs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			k := fmt.Sprintf("%s@%d", tp(r.Topic, r.Partition), r.Offset)
			mu.Lock()
			consumed[k] = append(consumed[k], m.label)
			mu.Unlock()
			rs = append(rs, r)
		})
		if len(rs) > 0 {
			if err := m.cl.CommitRecords(context.Background(), rs...); err != nil {
				m.mu.Lock()
				m.commitErrs = append(m.commitErrs, err.Error())
				m.mu.Unlock()
			}
		}
		m.cl.AllowRebalance()
	}
	m.leaveErr = out.Err(m.cl.LeaveGroupContext(context.Background()))
	m.cl.Close()
}

func (m *member) close() {
	m.stop.Store(true)
	select {
	case <-m.done:
	case <-time.After(60 * time.Second):
		out.Fail("%s did not close", m.label)
	}
	m.check()
}

func (m *member) check() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		out.Fail("%s: %v", m.label, m.err)
	}
}

// settled: every partition held by exactly one live member, each member's
// share within one of the others' (per topic for range).
func settled(live []*member, every []string, perTopic bool) bool {
	held := []string{}
	for _, m := range live {
		m.check()
		held = append(held, m.ownedList()...)
	}
	sort.Strings(held)
	if strings.Join(held, ",") != strings.Join(every, ",") {
		return false
	}
	topics := map[string]bool{"": true}
	if perTopic {
		topics = map[string]bool{}
		for _, p := range every {
			topics[topicOf(p)] = true
		}
	}
	for t := range topics {
		lo, hi := 1<<30, 0
		for _, m := range live {
			k := 0
			for _, p := range m.ownedList() {
				if t == "" || topicOf(p) == t {
					k++
				}
			}
			lo, hi = min(lo, k), max(hi, k)
		}
		if hi-lo > 1 {
			return false
		}
	}
	return true
}

func owners(live []*member) map[string]string {
	o := map[string]string{}
	for _, m := range live {
		for _, p := range m.ownedList() {
			o[p] = m.label
		}
	}
	return o
}

func snapshot(what string, live []*member, before map[string]string,
	moves, perTopic bool) map[string]any {
	ms := map[string]any{}
	for _, m := range live {
		own := m.ownedList()
		d := map[string]any{"count": len(own)}
		if moves {
			kept := 0
			for _, p := range own {
				if before[p] == m.label {
					kept++
				}
			}
			d["kept"] = kept
		}
		if perTopic {
			bt := map[string]int{}
			for _, p := range own {
				bt[topicOf(p)]++
			}
			d["per_topic"] = bt
		}
		ms[m.label] = d
	}
	s := map[string]any{"step": what, "members": ms}
	if moves {
		moved := 0
		for p, o := range owners(live) {
			if before[p] != o {
				moved++
			}
		}
		s["moved"] = moved
	}
	return s
}

// overlaps: partitions assigned to a member while another held them, in the
// callbacks' global order.
func overlaps() []string {
	mu.Lock()
	ev := append([]map[string]any(nil), timeline...)
	mu.Unlock()
	sort.Slice(ev, func(i, j int) bool {
		return ev[i]["seq"].(int64) < ev[j]["seq"].(int64)
	})
	owner := map[string]string{}
	bad := []string{}
	for _, e := range ev {
		who := e["member"].(string)
		for _, p := range e["partitions"].([]string) {
			if e["event"] == "assigned" {
				if prev, ok := owner[p]; ok && prev != who {
					bad = append(bad, fmt.Sprintf(
						"%s assigned to %s while %s held it (seq %d)",
						p, who, prev, e["seq"]))
				}
				owner[p] = who
			} else if owner[p] == who {
				delete(owner, p)
			}
		}
	}
	return bad
}

func endOffsets(every []string) map[string]int64 {
	ts := map[string]bool{}
	for _, p := range every {
		ts[topicOf(p)] = true
	}
	var tl []string
	for t := range ts {
		tl = append(tl, t)
	}
	ends, err := adm.ListEndOffsets(context.Background(), tl...)
	out.Check(err)
	r := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		out.Check(o.Err)
		r[tp(o.Topic, o.Partition)] = o.Offset
	})
	return r
}

func consumption(every []string) map[string]any {
	ends := endOffsets(every)
	want := int64(0)
	wanted := map[string]bool{}
	for _, p := range every {
		want += ends[p]
		wanted[p] = true
	}
	got := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		n := int64(0)
		for k := range consumed {
			if wanted[k[:strings.IndexByte(k, '@')]] {
				n++
			}
		}
		return n
	}
	waitFor(fmt.Sprintf("every record consumed (%d)", want),
		func() bool { return got() >= want })
	mu.Lock()
	twice := 0
	for _, v := range consumed {
		if len(v) > 1 {
			twice++
		}
	}
	mu.Unlock()
	// Every topic got records (a topic created during the run too).
	with := map[string]bool{}
	for p, n := range ends {
		if n > 0 {
			with[topicOf(p)] = true
		}
	}
	topics := []string{}
	for t := range with {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	return map[string]any{"distinct_consumed_is_end_offsets": got() == want,
		"consumed_twice": twice, "topics_with_records": topics}
}

func committed(group string, every []string) map[string]any {
	offs, err := adm.FetchOffsets(context.Background(), group)
	out.Check(err)
	ends := endOffsets(every)
	n := 0
	notAtEnd := []string{}
	offs.Each(func(o kadm.OffsetResponse) { n++ })
	for _, p := range every {
		var pn int32
		fmt.Sscan(p[strings.LastIndexByte(p, '-')+1:], &pn)
		o, ok := offs.Lookup(topicOf(p), pn)
		if !ok || o.Err != nil || o.At != ends[p] {
			notAtEnd = append(notAtEnd, p)
		}
	}
	return map[string]any{"partitions": n, "not_at_end": notAtEnd}
}

func describe(group string, sets bool) map[string]any {
	ctx := context.Background()
	r := map[string]any{}
	lg, err := adm.ListGroups(ctx)
	out.Check(err)
	if g, ok := lg[group]; ok {
		r["list_type"], r["list_protocol"], r["list_state"] =
			g.GroupType, g.ProtocolType, g.State
	}
	ds, err := adm.DescribeConsumerGroups(ctx, group)
	out.Check(err)
	d := ds[group]
	r["error"] = out.Err(d.Err)
	r["state"], r["assignor"] = d.State, d.AssignorName
	r["assignment_epoch_is_epoch"] = d.AssignmentEpoch == d.Epoch
	ms := map[string]any{}
	for _, m := range d.Members {
		a := names(topicsSet(m.Assignment))
		// A set: Kafka answers in its hash order.
		subs := append([]string{}, m.SubscribedTopics...)
		sort.Strings(subs)
		t := names(topicsSet(m.TargetAssignment))
		x := map[string]any{"count": len(a),
			"target_is_assignment":   strings.Join(a, ",") == strings.Join(t, ","),
			"epoch_is_group_epoch":   m.MemberEpoch == d.Epoch,
			"member_type":            m.MemberType,
			"subscribed_topics":      subs,
			"subscribed_topic_regex": m.SubscribedTopicRegex,
			"instance_id":            m.InstanceID,
		}
		if sets {
			x["partitions"] = a
		}
		ms[m.ClientID] = x
	}
	r["members"] = ms
	return r
}

func topicsSet(s kadm.TopicsSet) map[string][]int32 {
	m := map[string][]int32{}
	for t, ps := range s {
		for p := range ps {
			m[t] = append(m[t], p)
		}
	}
	return m
}

// ---- scenarios ------------------------------------------------------------

func steps(assignor string) map[string]any {
	group := "cgf-" + assignor
	topics := map[string]int32{"cgf-" + assignor + "-a": 6,
		"cgf-" + assignor + "-b": 6}
	createTopics(topics)
	every := partitions(topics)
	sub := []string{"cgf-" + assignor + "-a", "cgf-" + assignor + "-b"}
	perTopic, moves := assignor == "range", assignor == "uniform"
	res := map[string]any{}
	var ss []any
	var live []*member
	before := map[string]string{}
	prod := newProducing(every, 5)
	for _, l := range []string{"c1", "c2", "c3"} {
		inst := ""
		if l == "c2" {
			inst = "i-c2"
		}
		live = append(live, newMember(l, group, assignor, inst, sub, false))
		waitFor(l+" joined", func() bool { return settled(live, every, perTopic) })
		ss = append(ss, snapshot(l+" joins", live, before, moves, perTopic))
		before = owners(live)
	}
	c3 := live[2]
	live = live[:2]
	c3.close()
	waitFor("c3 left", func() bool { return settled(live, every, perTopic) })
	ss = append(ss, snapshot("c3 leaves", live, before, moves, perTopic))
	before = owners(live)
	live = append(live, newMember("c4", group, assignor, "", sub, false))
	waitFor("c4 joined", func() bool { return settled(live, every, perTopic) })
	ss = append(ss, snapshot("c4 joins", live, before, moves, perTopic))
	before = owners(live)
	res["steps"] = ss
	res["describe"] = describe(group, false)
	prod.close()
	res["consumption"] = consumption(every)
	ce := []string{}
	for _, m := range append(live, c3) {
		ce = append(ce, m.commitErrs...)
	}
	res["commit_errors"] = ce
	// The static c2 last: franz-go's leave with epoch -2 (v1.22.3) has
	// no instance id, which Kafka refuses, so c2 keeps its place until its
	// session times out and a new c2 could not come back in this test.
	leaves := map[string]string{}
	for _, m := range []*member{live[0], live[2], live[1]} {
		m.close()
		leaves[m.label] = m.leaveErr
	}
	res["leave_errors"] = leaves
	res["overlaps"] = overlaps()
	res["committed"] = committed(group, every)
	return res
}

func pattern() map[string]any {
	group := "cgf-pattern"
	createTopics(map[string]int32{"cgr.a": 2, "cgr.b": 2, "cgr.other": 2})
	matching := partitions(map[string]int32{"cgr.a": 2, "cgr.b": 2})
	res := map[string]any{}
	var ss []any
	var live []*member
	before := map[string]string{}
	prod := newProducing(partitions(map[string]int32{"cgr.a": 2, "cgr.b": 2,
		"cgr.other": 2}), 5)
	for _, l := range []string{"c1", "c2"} {
		live = append(live, newMember(l, group, "uniform", "",
			[]string{`cgr\.[a-c]`}, true))
		waitFor(l+" joined", func() bool { return settled(live, matching, false) })
		ss = append(ss, snapshot(l+" joins", live, before, true, false))
		before = owners(live)
	}
	createTopics(map[string]int32{"cgr.c": 4})
	c := partitions(map[string]int32{"cgr.c": 4})
	matching = append(matching, c...)
	sort.Strings(matching)
	prod.add(c)
	// Records in cgr.c now, whatever the producer's pace: the members may
	// settle before its next round.
	out.Check(prod.round())
	waitFor("cgr.c assigned", func() bool { return settled(live, matching, false) })
	s := snapshot("cgr.c created", live, before, true, false)
	var all []string
	for _, m := range live {
		all = append(all, m.ownedList()...)
	}
	sort.Strings(all)
	s["assigned"] = all
	ss = append(ss, s)
	res["steps"] = ss
	res["describe"] = describe(group, false)
	prod.close()
	res["consumption"] = consumption(matching)
	ce := []string{}
	for _, m := range live {
		ce = append(ce, m.commitErrs...)
	}
	res["commit_errors"] = ce
	for _, m := range live {
		m.close()
	}
	res["overlaps"] = overlaps()
	res["committed"] = committed(group, matching)
	return res
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: cgroupfranz SCENARIO... BOOTSTRAP")
		os.Exit(2)
	}
	boot = os.Args[len(os.Args)-1]
	acl, err := kgo.NewClient(kgo.SeedBrokers(boot))
	out.Check(err)
	adm = kadm.NewClient(acl)
	cmp, raw := map[string]any{}, map[string]any{}
	for _, sc := range os.Args[1 : len(os.Args)-1] {
		mu.Lock()
		timeline = nil
		consumed = map[string][]string{}
		mu.Unlock()
		switch sc {
		case "uniform", "range":
			cmp[sc] = steps(sc)
		case "pattern":
			cmp[sc] = pattern()
		default:
			out.Fail("unknown scenario %q", sc)
		}
		mu.Lock()
		raw[sc] = timeline
		mu.Unlock()
	}
	acl.Close()
	out.Print(map[string]any{"compare": cmp, "timeline": raw})
}
