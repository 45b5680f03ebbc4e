package env

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

func TestReadTraceErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ trace, want string }{
		{"{\"time\":0,\"node\":\"world\",\"kind\":\"a\"}\nnot json\n", "trace line 2"},
		{"{\"time\":5,\"node\":\"world\",\"kind\":\"a\"}\n{\"time\":4,\"node\":\"world\",\"kind\":\"b\"}\n", "trace line 2: time 4 is before the previous line's 5"},
		{"{\"time\":0,\"node\":\"world\",\"kind\":\"a\"}\n" + strings.Repeat("x", MaxTraceLine+1) + "\n", "trace line 2"},
	} {
		if _, err := ReadTrace(strings.NewReader(tc.trace)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadTrace: %v, want an error containing %q", err, tc.want)
		}
	}
}

// readTraceJSON is ReadTrace as it was before the hand-written parser:
// the "before" of BenchmarkReadTrace.
func readTraceJSON(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTraceLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := parseRecordJSON(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		if n := len(out); n > 0 && rec.Time < out[n-1].Time {
			return nil, fmt.Errorf("trace line %d: time %d is before the previous line's %d", line, rec.Time, out[n-1].Time)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace line %d: %w", line+1, err)
	}
	return out, nil
}

func TestReadTraceMatchesJSON(t *testing.T) {
	trace := sampleTrace(5000)
	got, err := ReadTrace(bytes.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	want, err := readTraceJSON(bytes.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if diff := sameRecord(got[i], want[i]); diff != "" {
			t.Fatalf("line %d: %s", i+1, diff)
		}
	}
}

// TestReadTraceRecordsAreIndependent checks that a caller may keep and
// extend records: they re-encode to the input after the reader's buffer
// was reused and the input cleared, and after a field was appended to
// each (which must not overwrite its neighbour's).
func TestReadTraceRecordsAreIndependent(t *testing.T) {
	trace := sampleTrace(3000)
	want := string(trace)
	recs, err := ReadTrace(bytes.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	encode := func() string {
		var b []byte
		for i := range recs {
			b = AppendRecord(b, &recs[i])
		}
		return string(b)
	}
	clear(trace)
	if encode() != want {
		t.Fatal("the records do not re-encode to the trace they were read from")
	}
	for i := range recs {
		recs[i].Fields = append(recs[i].Fields, Str("extra", "x"))
		recs[i].Fields = recs[i].Fields[:len(recs[i].Fields)-1]
	}
	if encode() != want {
		t.Fatal("appending a field to a record changed another")
	}
}

func BenchmarkReadTrace(b *testing.B) {
	const lines = 50000
	trace := sampleTrace(lines)
	for _, bc := range []struct {
		name string
		read func(io.Reader) ([]Record, error)
	}{
		{"parser", ReadTrace},
		{"encoding-json", readTraceJSON},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(trace)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			runs := 0
			for b.Loop() {
				recs, err := bc.read(bytes.NewReader(trace))
				if err != nil || len(recs) != lines {
					b.Fatalf("%d records, %v", len(recs), err)
				}
				runs++
			}
			runtime.ReadMemStats(&after)
			n := float64(runs * lines)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/line")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/line")
		})
	}
}

// sampleTrace returns a trace of n lines shaped like a simulated run's:
// its kinds are weighted as in a run of the leader-isolation scenario
// (292,248 lines, half of them net.recv), with the same fields and values
// of the same kinds.
func sampleTrace(n int) []byte {
	g := traceGen{rng: rand.New(rand.NewPCG(1, 2))}
	total := 0
	for _, k := range traceKinds {
		total += k.weight
	}
	var b []byte
	for range n {
		g.time += g.rng.Int64N(200_000)
		w := g.rng.IntN(total)
		for _, k := range traceKinds {
			if w -= k.weight; w < 0 {
				node, fields := k.fields(&g)
				b = AppendLine(b, g.time, node, k.kind, fields)
				break
			}
		}
	}
	return b
}

// shapes are one line of each kind of sampleTrace, for fuzz seeds.
var shapes = func() []string {
	g := traceGen{rng: rand.New(rand.NewPCG(3, 4)), time: 1_000_000_000}
	var out []string
	for _, k := range traceKinds {
		node, fields := k.fields(&g)
		out = append(out, strings.TrimSuffix(string(AppendLine(nil, g.time, node, k.kind, fields)), "\n"))
	}
	return out
}()

type traceGen struct {
	rng                *rand.Rand
	time               int64
	id, timer, applied int64
}

func (g *traceGen) pick(s ...string) string { return s[g.rng.IntN(len(s))] }
func (g *traceGen) n(below int64) int64     { return g.rng.Int64N(below) }
func (g *traceGen) server() NodeID          { return NodeID(g.pick("n1", "n2", "n3", "n4", "n5")) }
func (g *traceGen) client() NodeID {
	return NodeID(g.pick("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"))
}
func (g *traceGen) group() string { return g.pick("rs1", "rs1", "rs1", "config") }
func (g *traceGen) hex() string   { return fmt.Sprintf("%016x", g.rng.Uint64()) }

func (g *traceGen) request() []Field {
	c, seq := g.client(), g.n(600)
	return []Field{Str("client", string(c)), Int("seq", seq), Str("op", g.pick("get", "put", "put", "cas", "delete")),
		Str("key", fmt.Sprintf("k%d", g.n(16))), Str("value", fmt.Sprintf("w1%s-%d", c, seq))}
}

func (g *traceGen) op(kind string) (NodeID, []Field) {
	c, seq := g.client(), g.n(600)
	fields := []Field{Int("process", g.n(4000)), Int("seq", seq), Str("f", g.pick("read", "read", "write", "cas")),
		Str("key", fmt.Sprintf("k%d", g.n(16))), Str("value", fmt.Sprintf("w1%s-%d", c, seq)), Bool("absent", false)}
	switch kind {
	case "client.ok":
		fields = append(fields, Int("index", g.applied), Str("note", string(g.server())))
	case "client.fail":
		fields = append(fields, Int("index", 0), Str("note", fmt.Sprintf("refused 4 times; last redirect to %q", g.server())))
	case "client.info":
		fields = append(fields, Str("expected", ""), Bool("expected_absent", true), Int("index", 0),
			Str("note", fmt.Sprintf("refused 4 times; last redirect to %q; a failed cas would claim its compare failed", g.server())))
	}
	return c, fields
}

var traceKinds = []struct {
	weight int
	kind   string
	fields func(g *traceGen) (NodeID, []Field)
}{
	{4800, "net.recv", func(g *traceGen) (NodeID, []Field) {
		g.id++
		msg := g.pick("raft.MsgApp", "raft.MsgAppResp", "raft.MsgApp", "raft.MsgAppResp", "raft.MsgHeartbeat",
			"raft.MsgHeartbeatResp", "kv.request", "kv.response")
		return g.server(), []Field{Str("from", string(g.server())), Str("msg", msg), Int("id", g.id), Int("sent", g.time-g.n(3_000_000))}
	}},
	{1440, "raft.ack", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("group", g.group()), Str("from", string(g.server())), Int("term", 3), Int("index", g.applied+g.n(3))}
	}},
	{970, "timer.fire", func(g *traceGen) (NodeID, []Field) {
		g.timer++
		ev := g.pick("client.attempt", "client.attempt", "client.tick", "prop.expire", "node.tick")
		return g.server(), []Field{Int("timer", g.timer), Str("event", ev)}
	}},
	{605, "raft.apply", func(g *traceGen) (NodeID, []Field) {
		g.applied++
		return g.server(), []Field{Str("group", g.group()), Int("index", g.applied), Int("term", 3), Str("hash", g.hex())}
	}},
	{603, "raft.state", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("group", g.group()), Int("term", 3), Str("role", g.pick("follower", "follower", "leader")),
			Str("leader", string(g.server())), Str("vote", ""), Int("commit", g.applied), Int("applied", g.applied)}
	}},
	{506, "kv.request", func(g *traceGen) (NodeID, []Field) { return g.server(), g.request() }},
	{505, "kv.response", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("client", string(g.client())), Int("seq", g.n(600)), Str("status", g.pick("ok", "redirect", "mismatch")),
			Str("value", ""), Bool("found", false), Int("index", g.applied), Str("leader", string(g.server())), Str("hint", "")}
	}},
	{261, "client.invoke", func(g *traceGen) (NodeID, []Field) { return g.op("client.invoke") }},
	{228, "client.ok", func(g *traceGen) (NodeID, []Field) { return g.op("client.ok") }},
	{39, "net.drop", func(g *traceGen) (NodeID, []Field) {
		g.id++
		return g.server(), []Field{Str("from", string(g.server())), Str("to", string(g.server())), Str("msg", "raft.MsgHeartbeat"),
			Int("id", g.id), Str("why", "cut")}
	}},
	{32, "client.fail", func(g *traceGen) (NodeID, []Field) { return g.op("client.fail") }},
	{2, "client.info", func(g *traceGen) (NodeID, []Field) { return g.op("client.info") }},
	{1, "raft.compact", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("group", "rs1"), Int("index", g.applied), Int("term", 3), Str("digest", g.hex())}
	}},
	{1, "raft.conf", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("group", "rs1"), Int("index", 1), Str("voters", "n1,n2,n3,n4,n5"), Str("learners", "")}
	}},
	{1, "sm.digest", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Str("group", "rs1"), Int("applied", g.applied), Str("digest", g.hex())}
	}},
	{1, "node.bootstrap", func(g *traceGen) (NodeID, []Field) {
		return g.server(), []Field{Int("instances", 5), Int("replicasets", 1), Str("replicaset", "rs1"),
			Str("voters", "n1,n2,n3,n4,n5"), Int("election_timeout", 1_000_000_000)}
	}},
	{1, "world.start", func(g *traceGen) (NodeID, []Field) {
		return WorldNode, []Field{Int("format", 1), Uint("seed", g.rng.Uint64())}
	}},
	{1, "net.cut", func(g *traceGen) (NodeID, []Field) {
		return WorldNode, []Field{Str("from", string(g.server())), Str("to", string(g.server()))}
	}},
	{1, "clock.drift", func(g *traceGen) (NodeID, []Field) { return g.server(), []Field{Float("drift", g.rng.Float64()/10)} }},
	{1, "post.handle", func(g *traceGen) (NodeID, []Field) { return g.server(), []Field{Str("event", "node.digest")} }},
}
