package hunt

import (
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

func TestLive(t *testing.T) {
	s := &scenario.Scenario{Duration: 10 * time.Second, Final: scenario.Final{Heal: true, Recover: 8 * time.Second}}
	at := func(d time.Duration) int64 { return int64(d) }
	boot := func(node, rs string) env.Record {
		return env.Record{Node: env.NodeID(node), Kind: "node.bootstrap", Fields: []env.Field{env.Str("replicaset", rs)}}
	}
	served := func(d time.Duration, node, status string) env.Record {
		return env.Record{Time: at(d), Node: env.NodeID(node), Kind: "kv.response", Fields: []env.Field{env.Str("status", status)}}
	}
	action := func(d time.Duration, outcome string) env.Record {
		return env.Record{Time: at(d), Node: "n1", Kind: "prop.result", Fields: []env.Field{env.Str("group", "config"), env.Str("outcome", outcome)}}
	}
	heal := env.Record{Time: at(10 * time.Second), Node: "nemesis", Kind: "nemesis.heal"}
	base := []env.Record{boot("n1", "rs1"), boot("n2", "rs2"), served(time.Second, "n1", "ok"), served(time.Second, "n2", "mismatch"), action(2*time.Second, "ok")}
	for _, c := range []struct {
		name  string
		after []env.Record
		want  checker.Verdict
		says  string
	}{
		{"every group soon", []env.Record{heal, served(11*time.Second, "n1", "ok"), served(12*time.Second, "n2", "ok"), action(13*time.Second, "ok")}, checker.Valid, "rs2: 2s after the heal"},
		{"a group late", []env.Record{heal, served(11*time.Second, "n1", "ok"), served(16*time.Second, "n2", "ok"), action(13*time.Second, "ok")}, checker.Invalid, "rs2 completed no operation within 5s of the heal at 10s"},
		{"a group never", []env.Record{heal, served(11*time.Second, "n1", "ok"), served(12*time.Second, "n2", "redirect"), action(13*time.Second, "timeout")}, checker.Invalid, "config, rs2 completed no operation"},
		{"no heal", []env.Record{served(11*time.Second, "n1", "ok")}, checker.NA, "no heal"},
	} {
		got := Live(s, append(append([]env.Record(nil), base...), c.after...))
		if got.Verdict != c.want || !strings.Contains(got.Explanation, c.says) {
			t.Errorf("%s: %s %q, want %s and %q", c.name, got.Verdict, got.Explanation, c.want, c.says)
		}
	}
	// The governor's steps are group 0's own work, not an operator's: a
	// governor with nothing left to do after the heal is no stall.
	governor := env.Record{Time: at(3 * time.Second), Node: "n1", Kind: "prop.result",
		Fields: []env.Field{env.Str("group", "config"), env.Str("id", "gov-n1-2-1"), env.Str("outcome", "ok")}}
	kvOnly := []env.Record{boot("n1", "rs1"), served(time.Second, "n1", "ok"), governor, heal, served(11*time.Second, "n1", "ok")}
	if got := Live(s, kvOnly); got.Verdict != checker.Valid || strings.Contains(got.Explanation, "config") {
		t.Errorf("governor steps before the heal only: %s %q, want valid, config not judged", got.Verdict, got.Explanation)
	}
	short := *s
	short.Final.Recover = 2 * time.Second
	if got := Live(&short, append(base, heal)); got.Verdict != checker.NA {
		t.Errorf("workloads that stop 2s after the heal: %s, want n/a", got.Verdict)
	}
}
