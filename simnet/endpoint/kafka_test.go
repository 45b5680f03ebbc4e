package endpoint_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

var broker = connector.InboundEndpoint("crm")

var crmSpec = &connector.KafkaInbound{Brokers: []string{"k:9092"}, Topic: "customers", Group: "shoal-crm", MaxBatch: 100, Start: "earliest"}

// got is an answer as a member got it, with the virtual time it came.
type got struct {
	at time.Duration
	m  env.Message
}

// testMember sends what is posted to it to the broker, and keeps the
// answers.
type testMember struct {
	e   env.Env
	got *[]got
}

type sendTo struct{ m env.Message }

func (sendTo) Kind() string { return "test.send" }

func (m *testMember) Receive(_ env.NodeID, msg env.Message) {
	*m.got = append(*m.got, got{at: m.e.Now().Sub(simnet.Epoch), m: msg})
}

func (m *testMember) Handle(ev env.Event) {
	if s, ok := ev.(sendTo); ok {
		m.e.Send(broker, s.m)
	}
}

// kafkaFixture is a World with one broker, for connector crm, and
// members n1 and n2, on 1 ms links.
type kafkaFixture struct {
	t   *testing.T
	w   *simnet.World
	k   *endpoint.Kafka
	got map[env.NodeID]*[]got
	id  uint64
}

func newKafkaFixture(t *testing.T, cfg endpoint.KafkaConfig) *kafkaFixture {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: 1, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f := &kafkaFixture{t: t, w: w, got: map[env.NodeID]*[]got{}}
	start := endpoint.StartKafka(cfg)
	if err := w.AddNode(broker, func(e env.Env) (env.Node, error) {
		n, err := start(e)
		if err == nil {
			f.k = n.(*endpoint.Kafka)
		}
		return n, err
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []env.NodeID{"n1", "n2"} {
		g := &[]got{}
		f.got[name] = g
		if err := w.AddNode(name, func(e env.Env) (env.Node, error) { return &testMember{e: e, got: g}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *kafkaFixture) run(d time.Duration) {
	f.t.Helper()
	if err := f.w.RunFor(d); err != nil {
		f.t.Fatal(err)
	}
}

// fetch has member fetch up to max records, and returns the answer, or
// nil when none came within 10ms.
func (f *kafkaFixture) fetch(member env.NodeID, max int) *connector.Fetched {
	f.t.Helper()
	f.id++
	f.w.Post(member, sendTo{&connector.Fetch{ID: f.id, Connector: "crm", Spec: crmSpec, Member: string(member), Max: max}})
	return answerOf[*connector.Fetched](f, member)
}

// commit has member commit offsets (partition, next pairs) in generation.
func (f *kafkaFixture) commit(member env.NodeID, generation int64, pairs ...int64) *connector.Committed {
	f.t.Helper()
	f.id++
	c := &connector.Commit{ID: f.id, Connector: "crm", Spec: crmSpec, Member: string(member), Generation: generation}
	for i := 0; i < len(pairs); i += 2 {
		c.Offsets = append(c.Offsets, connector.Offset{Topic: "customers", Partition: int32(pairs[i]), Next: pairs[i+1]})
	}
	f.w.Post(member, sendTo{c})
	return answerOf[*connector.Committed](f, member)
}

func answerOf[T env.Message](f *kafkaFixture, member env.NodeID) T {
	f.t.Helper()
	before := len(*f.got[member])
	f.run(10 * time.Millisecond)
	var zero T
	g := *f.got[member]
	if len(g) == before {
		return zero
	}
	if len(g) != before+1 {
		f.t.Fatalf("%d answers to one request", len(g)-before)
	}
	a, ok := g[before].m.(T)
	if !ok {
		f.t.Fatalf("answer %T", g[before].m)
	}
	return a
}

func (f *kafkaFixture) events(kind string) []env.Record {
	f.t.Helper()
	recs, err := f.w.Records()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []env.Record
	for _, r := range recs {
		if r.Kind == kind && r.Node == broker {
			out = append(out, r)
		}
	}
	return out
}

// produce appends n keyless records (values v0, v1, ...) now.
func (f *kafkaFixture) produce(n int) {
	var recs []endpoint.KafkaRecord
	for i := range n {
		recs = append(recs, endpoint.KafkaRecord{Value: []byte(fmt.Sprintf("v%d", i))})
	}
	f.w.Post(broker, endpoint.Produce{Records: recs})
	f.run(time.Millisecond)
}

func offsetsOf(a *connector.Fetched) []string {
	var out []string
	for _, r := range a.Records {
		out = append(out, fmt.Sprintf("%d:%d", r.Partition, r.Offset))
	}
	return out
}

// TestKafkaGroup: members join, the partitions are dealt round the
// sorted members, a fetch hands out a member's records from the
// committed offsets, and a commit moves them on.
func TestKafkaGroup(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers", Partitions: 3})
	f.produce(7) // keyless: partitions 0,1,2,0,1,2,0
	a := f.fetch("n2", 100)
	if a == nil || a.Err != "" || a.Generation != 1 || len(a.Records) != 7 {
		t.Fatalf("the only member's fetch: %+v", a)
	}
	r := a.Records[0]
	if r.Topic != "customers" || r.Partition != 0 || r.Offset != 0 || string(r.Value) != "v0" {
		t.Fatalf("first record %+v", r)
	}
	a = f.fetch("n1", 100)
	if a.Generation != 2 || !slices.Equal(offsetsOf(a), []string{"0:0", "0:1", "0:2", "2:0", "2:1"}) {
		t.Fatalf("n1 in generation 2: %d %v", a.Generation, offsetsOf(a))
	}
	reb := f.events("kafka.rebalance")
	if len(reb) != 2 || str(reb[1], "members") != "n1,n2" || str(reb[1], "assignment") != "0:n1,1:n2,2:n1" || str(reb[1], "why") != "join" {
		t.Fatalf("rebalances %v", reb)
	}
	// Max bounds a fetch, across partitions.
	if a = f.fetch("n1", 4); !slices.Equal(offsetsOf(a), []string{"0:0", "0:1", "0:2", "2:0"}) {
		t.Fatalf("max 4: %v", offsetsOf(a))
	}
	if c := f.commit("n1", 2, 0, 3, 2, 1); c == nil || c.Err != "" {
		t.Fatalf("commit: %+v", c)
	}
	if f.k.Committed(0) != 3 || f.k.Committed(2) != 1 || f.k.Committed(1) != 0 {
		t.Fatalf("committed %d %d %d", f.k.Committed(0), f.k.Committed(1), f.k.Committed(2))
	}
	if a = f.fetch("n1", 100); !slices.Equal(offsetsOf(a), []string{"2:1"}) {
		t.Fatalf("after the commit: %v", offsetsOf(a))
	}
	cs := f.events("kafka.commit")
	if len(cs) != 2 || str(cs[0], "member") != "n1" || num(cs[0], "partition") != 0 || num(cs[0], "from") != 0 || num(cs[0], "next") != 3 ||
		num(cs[0], "generation") != 2 {
		t.Fatalf("kafka.commit %v", cs)
	}
	fe := f.events("kafka.fetch")
	if last := fe[len(fe)-1]; str(last, "member") != "n1" || num(last, "records") != 1 || str(last, "ranges") != "2:1-1" {
		t.Fatalf("kafka.fetch %v", last)
	}
}

// TestKafkaProduce: a keyed record goes to its key's partition, and the
// trace names it as the engine will.
func TestKafkaProduce(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers"})
	key := []byte("customer-9")
	f.w.Post(broker, endpoint.Produce{Records: []endpoint.KafkaRecord{{Key: key, Value: []byte(`{"a":1}`)}, {Key: key, Value: []byte(`{"a":2}`)}}})
	f.run(time.Millisecond)
	p := endpoint.KafkaPartition(key, endpoint.DefaultPartitions)
	if f.k.End(int(p)) != 2 {
		t.Fatalf("partition %d has %d records", p, f.k.End(int(p)))
	}
	pr := f.events("kafka.produce")
	sum := sha256.Sum256([]byte(`{"a":2}`))
	if len(pr) != 2 || num(pr[1], "partition") != int64(p) || num(pr[1], "offset") != 1 || str(pr[1], "key") != "customer-9" ||
		str(pr[1], "value") != hex.EncodeToString(sum[:8]) || str(pr[1], "id") != connector.RecordID("crm", "customers", p, 1) {
		t.Fatalf("kafka.produce %v", pr)
	}
}

// TestKafkaCommitRefused: a commit of a stale generation, of a partition
// not the member's, past a partition's end, or of a member not in the
// group is refused and commits nothing.
func TestKafkaCommitRefused(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers", Partitions: 2})
	f.produce(4)
	f.fetch("n1", 10)
	f.fetch("n2", 10) // generation 2: 0 to n1, 1 to n2
	for _, tc := range []struct {
		member env.NodeID
		gen    int64
		pairs  []int64
		want   string
	}{
		{"n1", 1, []int64{0, 1}, "generation 1 is stale"},
		{"n1", 2, []int64{1, 1}, "partition 1 is not assigned"},
		{"n1", 2, []int64{0, 3}, "past its end"},
	} {
		c := f.commit(tc.member, tc.gen, tc.pairs...)
		if c == nil || !strings.Contains(c.Err, tc.want) {
			t.Fatalf("commit %v: %+v, want an error saying %q", tc, c, tc.want)
		}
	}
	f.w.Post(broker, endpoint.Rebalance{})
	f.run(time.Millisecond)
	if c := f.commit("n1", 2, 0, 1); c == nil || !strings.Contains(c.Err, "stale") {
		t.Fatalf("after a forced rebalance: %+v", c)
	}
	if reb := f.events("kafka.rebalance"); len(reb) != 3 || str(reb[2], "why") != "forced" || f.k.Generation() != 3 {
		t.Fatalf("rebalances %v", reb)
	}
	if c := f.commit("n1", 3, 0, 2); c == nil || c.Err != "" {
		t.Fatalf("in the new generation: %+v", c)
	}
	if f.k.Committed(0) != 2 || f.k.Committed(1) != 0 || len(f.events("kafka.commit")) != 1 || len(f.events("kafka.refuse")) != 4 {
		t.Fatalf("committed %d %d; %d commits, %d refusals", f.k.Committed(0), f.k.Committed(1), len(f.events("kafka.commit")), len(f.events("kafka.refuse")))
	}
	// A fetch for another topic is refused too.
	f.id++
	f.w.Post("n1", sendTo{&connector.Fetch{ID: f.id, Connector: "crm", Spec: &connector.KafkaInbound{Topic: "orders"}, Member: "n1", Max: 1}})
	if a := answerOf[*connector.Fetched](f, "n1"); a == nil || !strings.Contains(a.Err, "unknown topic") {
		t.Fatalf("another topic: %+v", a)
	}
}

// TestKafkaSession: a member that stops fetching leaves the group after
// the session timeout; its commit is then refused, and its partitions
// are another's.
func TestKafkaSession(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers", Partitions: 2, SessionTimeout: time.Second})
	f.produce(2)
	f.fetch("n1", 10)
	f.fetch("n2", 10)
	for range 3 {
		f.run(400 * time.Millisecond)
		f.fetch("n2", 10)
	}
	if got := f.k.Members(); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("members %v after n1 stopped fetching", got)
	}
	if c := f.commit("n1", 2, 0, 1); c == nil || !strings.Contains(c.Err, "not in the group") {
		t.Fatalf("n1's commit: %+v", c)
	}
	if a := f.fetch("n2", 10); a.Generation != 3 || !slices.Equal(offsetsOf(a), []string{"0:0", "1:0"}) {
		t.Fatalf("n2 alone: generation %d, %v", a.Generation, offsetsOf(a))
	}
	if reb := f.events("kafka.rebalance"); str(reb[len(reb)-1], "why") != "leave" || str(reb[len(reb)-1], "assignment") != "0:n2,1:n2" {
		t.Fatalf("rebalances %v", reb)
	}
}

// TestKafkaModes: down answers nothing, slow answers after its delay,
// up at once again.
func TestKafkaModes(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers", Initial: endpoint.KafkaMode{Mode: endpoint.Down}})
	if a := f.fetch("n1", 10); a != nil {
		t.Fatalf("a down broker answered %+v", a)
	}
	if len(f.k.Members()) != 0 {
		t.Fatal("a fetch to a down broker joined the group")
	}
	f.w.Post(broker, endpoint.KafkaMode{Mode: endpoint.Slow, Delay: 50 * time.Millisecond})
	f.run(time.Millisecond)
	f.fetch("n1", 10)
	f.run(100 * time.Millisecond)
	g := *f.got["n1"]
	if len(g) != 1 || g[0].at != 2*time.Millisecond+11*time.Millisecond+50*time.Millisecond {
		t.Fatalf("slow answers %v", g)
	}
	f.w.Post(broker, endpoint.KafkaMode{})
	f.run(time.Millisecond)
	if a := f.fetch("n1", 10); a == nil {
		t.Fatal("no answer once up")
	}
	modes := f.events("kafka.mode")
	if len(modes) != 3 || str(modes[0], "mode") != "down" || str(modes[1], "mode") != "slow" || num(modes[1], "delay") != int64(50*time.Millisecond) ||
		str(modes[2], "mode") != "up" {
		t.Fatalf("kafka.mode %v", modes)
	}
	if err := (endpoint.KafkaMode{Mode: "fail"}).Validate(); err == nil {
		t.Fatal("fail is no broker mode")
	}
}

// TestKafkaStartLatest: a group that starts at latest skips what was
// produced before its first member came.
func TestKafkaStartLatest(t *testing.T) {
	f := newKafkaFixture(t, endpoint.KafkaConfig{Topic: "customers", Partitions: 1})
	f.produce(3)
	f.id++
	latest := *crmSpec
	latest.Start = "latest"
	f.w.Post("n1", sendTo{&connector.Fetch{ID: f.id, Connector: "crm", Spec: &latest, Member: "n1", Max: 10}})
	if a := answerOf[*connector.Fetched](f, "n1"); a == nil || len(a.Records) != 0 {
		t.Fatalf("first fetch at latest: %+v", a)
	}
	f.produce(1)
	if a := f.fetch("n1", 10); !slices.Equal(offsetsOf(a), []string{"0:3"}) {
		t.Fatalf("then %v", offsetsOf(a))
	}
}
